/**
 * The order aggregate: its events, its state (a left fold of {@link apply} over the events) and the
 * decide functions that turn a command into new events. No I/O here.
 *
 *   PENDING ──confirm──▶ CONFIRMED ──ship──▶ SHIPPED ──deliver──▶ DELIVERED
 *      └──cancel──▶ CANCELLED ◀──cancel──┘
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Address } from "@mercato/sdk/gen/mercato/common/v1/address_pb";
import {
  type OrderCancelled,
  OrderCancelledSchema,
  type OrderConfirmed,
  OrderConfirmedSchema,
  type OrderDelivered,
  OrderDeliveredSchema,
  type OrderPlaced,
  OrderPlacedLineSchema,
  OrderPlacedSchema,
  type OrderShipped,
  OrderShippedSchema,
} from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";

/** An event of the order aggregate, tagged by kind; `data` is the event's protobuf message. */
export type OrderEvent =
  | { readonly kind: "placed"; readonly data: OrderPlaced }
  | { readonly kind: "confirmed"; readonly data: OrderConfirmed }
  | { readonly kind: "cancelled"; readonly data: OrderCancelled }
  | { readonly kind: "shipped"; readonly data: OrderShipped }
  | { readonly kind: "delivered"; readonly data: OrderDelivered };

/** The protobuf schema of each event kind (the stored and published payload). */
export const eventSchemas = {
  placed: OrderPlacedSchema,
  confirmed: OrderConfirmedSchema,
  cancelled: OrderCancelledSchema,
  shipped: OrderShippedSchema,
  delivered: OrderDeliveredSchema,
} as const;

/** Event kind of a full protobuf type name (`mercato.order.v1.OrderPlaced` → `placed`). */
export function kindOfType(typeName: string): OrderEvent["kind"] | undefined {
  for (const [kind, schema] of Object.entries(eventSchemas)) {
    if (schema.typeName === typeName) return kind as OrderEvent["kind"];
  }
  return undefined;
}

/** NATS subject of an event: `mercato.order.<snake_case name>`. */
export function subjectOf(event: OrderEvent): string {
  const name = eventSchemas[event.kind].typeName.split(".").pop() ?? "";
  return `mercato.order.${name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()}`;
}

/** One priced line of an order. */
export interface OrderLineState {
  readonly productId: string;
  readonly sku: string;
  readonly name: string;
  readonly quantity: number;
  readonly unitPriceMinor: bigint;
}

/** An order as its events made it. */
export interface OrderState {
  readonly id: string;
  readonly userId: string;
  readonly status: OrderStatus;
  readonly lines: readonly OrderLineState[];
  readonly currencyCode: string;
  readonly totalMinor: bigint;
  readonly shippingAddress: Address | undefined;
  readonly idempotencyKey: string;
  readonly paymentId: string;
  readonly shipmentId: string;
  readonly trackingNumber: string;
  readonly cancelReason: string;
  /** Number of events applied: the version the next event must follow. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A rule refused the command; handlers map it to FAILED_PRECONDITION. */
export class OrderRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OrderRuleError";
  }
}

function occurredAt(event: OrderEvent): Date {
  return event.data.occurredAt ? timestampDate(event.data.occurredAt) : new Date(0);
}

/** Number of units over all lines. */
export function itemCount(lines: readonly { readonly quantity: number }[]): number {
  return lines.reduce((sum, line) => sum + line.quantity, 0);
}

/** Σ unit price × quantity, exactly, in minor units. */
export function orderTotal(
  lines: readonly { readonly quantity: number; readonly unitPriceMinor: bigint }[],
): bigint {
  return lines.reduce((sum, line) => sum + line.unitPriceMinor * BigInt(line.quantity), 0n);
}

/**
 * Applies one event to the state (undefined before the first event). Pure and total: it never
 * throws for a well-formed history, so replay always succeeds; the decide functions enforce the rules.
 */
export function apply(state: OrderState | undefined, event: OrderEvent): OrderState {
  const at = occurredAt(event);
  const version = Number(event.data.version);
  if (event.kind === "placed") {
    const placed = event.data;
    const lines = placed.lines.map((line) => ({
      productId: line.productId,
      sku: line.sku,
      name: line.name,
      quantity: line.quantity,
      unitPriceMinor: line.unitPrice?.amountMinor ?? 0n,
    }));
    return {
      id: placed.orderId,
      userId: placed.userId,
      status: OrderStatus.PENDING,
      lines,
      currencyCode: placed.total?.currencyCode ?? "",
      totalMinor: placed.total?.amountMinor ?? orderTotal(lines),
      shippingAddress: placed.shippingAddress,
      idempotencyKey: placed.idempotencyKey,
      paymentId: "",
      shipmentId: "",
      trackingNumber: "",
      cancelReason: "",
      version,
      createdAt: at,
      updatedAt: at,
    };
  }
  if (state === undefined) throw new OrderRuleError(`history starts with ${event.kind}, not placed`);
  const base = { ...state, version, updatedAt: at };
  switch (event.kind) {
    case "confirmed":
      return { ...base, status: OrderStatus.CONFIRMED, paymentId: event.data.paymentId };
    case "cancelled":
      return { ...base, status: OrderStatus.CANCELLED, cancelReason: event.data.reason };
    case "shipped":
      return {
        ...base,
        status: OrderStatus.SHIPPED,
        shipmentId: event.data.shipmentId,
        trackingNumber: event.data.trackingNumber,
      };
    case "delivered":
      return {
        ...base,
        status: OrderStatus.DELIVERED,
        shipmentId: event.data.shipmentId || state.shipmentId,
      };
  }
}

/** Folds a history into a state; undefined for an empty history. */
export function replay(events: readonly OrderEvent[]): OrderState | undefined {
  return events.reduce<OrderState | undefined>(apply, undefined);
}

/** What {@link decidePlace} needs: a validated request with its lines priced from the catalog. */
export interface PlaceCommand {
  readonly orderId: string;
  readonly eventId: string;
  readonly userId: string;
  readonly idempotencyKey: string;
  readonly lines: readonly (OrderLineState & { readonly currencyCode: string })[];
  readonly shippingAddress: Address;
  readonly now: Date;
}

/**
 * Decides the OrderPlaced event. All lines must share one currency (FAILED_PRECONDITION otherwise:
 * the request was fine, the catalog's prices cannot be combined).
 */
export function decidePlace(command: PlaceCommand): OrderEvent {
  const currencies = new Set(command.lines.map((line) => line.currencyCode));
  if (currencies.size !== 1) {
    throw new OrderRuleError(`the products are priced in several currencies (${[...currencies].join(", ")})`);
  }
  const currencyCode = command.lines[0]?.currencyCode ?? "";
  const money = (amountMinor: bigint) => ({ currencyCode, amountMinor });
  return {
    kind: "placed",
    data: create(OrderPlacedSchema, {
      eventId: command.eventId,
      occurredAt: timestampFromDate(command.now),
      orderId: command.orderId,
      version: 1n,
      userId: command.userId,
      lines: command.lines.map((line) =>
        create(OrderPlacedLineSchema, {
          productId: line.productId,
          sku: line.sku,
          name: line.name,
          quantity: line.quantity,
          unitPrice: money(line.unitPriceMinor),
        }),
      ),
      total: money(orderTotal(command.lines)),
      shippingAddress: command.shippingAddress,
      idempotencyKey: command.idempotencyKey,
    }),
  };
}

/** Common fields of a follow-up event. */
export interface EventMeta {
  readonly eventId: string;
  readonly now: Date;
}

function header(state: OrderState, meta: EventMeta) {
  return {
    eventId: meta.eventId,
    occurredAt: timestampFromDate(meta.now),
    orderId: state.id,
    version: BigInt(state.version + 1),
    userId: state.userId,
  };
}

/** Confirms a pending order; a confirmed (or later) order needs nothing. A cancelled one cannot be. */
export function decideConfirm(state: OrderState, paymentId: string, meta: EventMeta): OrderEvent[] {
  if (state.status === OrderStatus.PENDING) {
    return [
      {
        kind: "confirmed",
        data: create(OrderConfirmedSchema, {
          ...header(state, meta),
          paymentId,
          total: { currencyCode: state.currencyCode, amountMinor: state.totalMinor },
          ...(state.shippingAddress ? { shippingAddress: state.shippingAddress } : {}),
          itemCount: itemCount(state.lines),
        }),
      },
    ];
  }
  if (state.status === OrderStatus.CANCELLED) throw new OrderRuleError("the order is cancelled");
  return [];
}

/** Whether an order may still be cancelled (it has not shipped). */
export function isCancellable(state: OrderState): boolean {
  return state.status === OrderStatus.PENDING || state.status === OrderStatus.CONFIRMED;
}

/** Cancels an order that has not shipped; cancelling a cancelled order changes nothing. */
export function decideCancel(state: OrderState, reason: string, meta: EventMeta): OrderEvent[] {
  if (state.status === OrderStatus.CANCELLED) return [];
  if (!isCancellable(state)) throw new OrderRuleError("the order has shipped and can no longer be cancelled");
  return [{ kind: "cancelled", data: create(OrderCancelledSchema, { ...header(state, meta), reason }) }];
}

/** Records the hand-over to the carrier (from shipping's events); a repeat changes nothing. */
export function decideShip(
  state: OrderState,
  shipment: { readonly shipmentId: string; readonly trackingNumber: string },
  meta: EventMeta,
): OrderEvent[] {
  if (state.status === OrderStatus.SHIPPED || state.status === OrderStatus.DELIVERED) return [];
  if (state.status !== OrderStatus.CONFIRMED) {
    throw new OrderRuleError(`an order in status ${OrderStatus[state.status]} cannot ship`);
  }
  return [{ kind: "shipped", data: create(OrderShippedSchema, { ...header(state, meta), ...shipment }) }];
}

/** Records the delivery (from shipping's events); a repeat changes nothing. */
export function decideDeliver(state: OrderState, shipmentId: string, meta: EventMeta): OrderEvent[] {
  if (state.status === OrderStatus.DELIVERED) return [];
  if (state.status !== OrderStatus.SHIPPED && state.status !== OrderStatus.CONFIRMED) {
    throw new OrderRuleError(`an order in status ${OrderStatus[state.status]} cannot be delivered`);
  }
  return [{ kind: "delivered", data: create(OrderDeliveredSchema, { ...header(state, meta), shipmentId }) }];
}

/** Statuses whose totals count as revenue and whose units count as sold. */
export function countsAsSale(status: OrderStatus | undefined): boolean {
  return (
    status === OrderStatus.CONFIRMED || status === OrderStatus.SHIPPED || status === OrderStatus.DELIVERED
  );
}

/**
 * How the statistics projection changes when an order goes from `before` to `after`: counter key →
 * delta. Keys: `orders`, `status:<NAME>`, `revenue:<CUR>`, `units`.
 */
export function statisticsDelta(before: OrderState | undefined, after: OrderState): Map<string, bigint> {
  const delta = new Map<string, bigint>();
  const add = (key: string, value: bigint) => {
    const next = (delta.get(key) ?? 0n) + value;
    if (next === 0n) delta.delete(key);
    else delta.set(key, next);
  };
  if (before === undefined) add("orders", 1n);
  if (before?.status !== after.status) {
    if (before) add(`status:${OrderStatus[before.status]}`, -1n);
    add(`status:${OrderStatus[after.status]}`, 1n);
  }
  const units = BigInt(itemCount(after.lines));
  if (countsAsSale(before?.status) && before) {
    add(`revenue:${before.currencyCode}`, -before.totalMinor);
    add("units", -BigInt(itemCount(before.lines)));
  }
  if (countsAsSale(after.status)) {
    add(`revenue:${after.currencyCode}`, after.totalMinor);
    add("units", units);
  }
  return delta;
}
