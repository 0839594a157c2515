/**
 * Consumers of the events customers hear about. One durable per upstream stream keeps each stream's
 * order; each handler runs in the inbox transaction and only writes delivery rows (the delivery
 * worker sends them), so a redelivered event never notifies twice and a crash loses nothing.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { Database } from "@mercato/platform/db";
import { type ConsumedEvent, type EventConsumer, startConsumer } from "@mercato/platform/events";
import type { Logger } from "@mercato/platform/log";
import { domainStream } from "@mercato/platform/service";
import { UserRegisteredSchema } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import type { JetStreamClient } from "nats";
import { recordNotification } from "../db/deliveries.js";
import type { schema } from "../db/schema.js";
import type { RenderedMessage } from "../domain/templates.js";
import * as templates from "../domain/templates.js";

interface Template {
  readonly schema: DescMessage;
  readonly render: (message: never) => RenderedMessage;
}

function template<D extends DescMessage>(
  schema: D,
  render: (message: MessageShape<D>) => RenderedMessage,
): Template {
  return { schema, render: render as (message: never) => RenderedMessage };
}

/** The events that notify, by subject, with their templates. */
export const TEMPLATES: Readonly<Record<string, Template>> = {
  "mercato.identity.user_registered": template(UserRegisteredSchema, templates.userRegistered),
  "mercato.order.order_confirmed": template(OrderConfirmedSchema, templates.orderConfirmed),
  "mercato.order.order_cancelled": template(OrderCancelledSchema, templates.orderCancelled),
  "mercato.shipping.shipment_shipped": template(ShipmentShippedSchema, templates.shipmentShipped),
  "mercato.shipping.shipment_delivered": template(ShipmentDeliveredSchema, templates.shipmentDelivered),
};

/** The durable consumers (before the configured prefix): one per upstream domain. */
export const CONSUMERS = [
  { durable: "notification-identity", domain: "identity", filterSubject: "mercato.identity.user_registered" },
  { durable: "notification-order", domain: "order", filterSubject: "mercato.order.>" },
  { durable: "notification-shipping", domain: "shipping", filterSubject: "mercato.shipping.>" },
] as const;

/** What the consumers need. */
export interface ConsumerDeps {
  readonly js: JetStreamClient;
  readonly database: Database<typeof schema>;
  readonly logger: Logger;
  readonly logChannel: boolean;
  readonly durablePrefix?: string | undefined;
  readonly maxDeliver: number;
  readonly backoffMs: readonly number[];
}

/** Renders an event, or returns undefined for events nobody is notified about. Throws on a malformed event. */
export function renderEvent(event: ConsumedEvent): { type: string; message: RenderedMessage } | undefined {
  const entry = TEMPLATES[event.subject];
  if (!entry) return undefined;
  const decoded = event.decode(entry.schema);
  return { type: entry.schema.typeName, message: entry.render(decoded as never) };
}

/** Starts the identity, order and shipping consumers. */
export async function startNotificationConsumers(deps: ConsumerDeps): Promise<EventConsumer[]> {
  const { js, database, logger } = deps;
  const consumers: EventConsumer[] = [];
  for (const spec of CONSUMERS) {
    consumers.push(
      await startConsumer({
        js,
        database,
        logger,
        stream: domainStream(spec.domain),
        durable: `${deps.durablePrefix ?? ""}${spec.durable}`,
        filterSubject: spec.filterSubject,
        maxDeliver: deps.maxDeliver,
        backoffMs: deps.backoffMs,
        async handler(event, tx) {
          const rendered = renderEvent(event);
          if (!rendered) return;
          const created = await recordNotification(tx, {
            eventId: event.id,
            eventType: rendered.type,
            message: rendered.message,
            logChannel: deps.logChannel,
          });
          logger.debug(
            { eventId: event.id, type: rendered.type, deliveries: created },
            "notification queued",
          );
        },
      }),
    );
  }
  return consumers;
}
