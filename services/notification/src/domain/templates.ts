/**
 * Message templates: one plain function per event type that turns the event into what the customer
 * reads. No I/O.
 */
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import type { Money } from "@mercato/sdk/gen/mercato/common/v1/money_pb";
import type { UserRegistered } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import type { OrderCancelled, OrderConfirmed } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import type { ShipmentDelivered, ShipmentShipped } from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";

/** A rendered notification. */
export interface RenderedMessage {
  /** The user it is for. */
  readonly userId: string;
  /** One line, e.g. "Your order has shipped". */
  readonly subject: string;
  /** The message body. */
  readonly text: string;
  /** Structured facts from the event, for receivers that render their own text. */
  readonly data: Readonly<Record<string, unknown>>;
  /** When the event happened (ISO 8601). */
  readonly occurredAt: string;
}

/** Formats minor units exactly (no floats): `{currencyCode: "EUR", amountMinor: 2599n}` → "25.99 EUR". */
export function formatMoney(money: Money | undefined): string {
  if (money === undefined) return "";
  const negative = money.amountMinor < 0n;
  const abs = negative ? -money.amountMinor : money.amountMinor;
  const major = abs / 100n;
  const minor = (abs % 100n).toString().padStart(2, "0");
  return `${negative ? "-" : ""}${major}.${minor} ${money.currencyCode}`;
}

/** The short, human-friendly form of an order id: its last 8 characters, upper case. */
export function shortId(id: string): string {
  return id.replace(/-/g, "").slice(-8).toUpperCase();
}

function iso(timestamp: Timestamp | undefined): string {
  return (timestamp ? timestampDate(timestamp) : new Date()).toISOString();
}

function requireUser(userId: string, type: string): string {
  if (userId === "") throw new Error(`${type} has no user_id`);
  return userId;
}

/** Welcome message for a new account. */
export function userRegistered(event: UserRegistered): RenderedMessage {
  const name = event.name.trim() || "there";
  return {
    userId: requireUser(event.userId, "UserRegistered"),
    subject: "Welcome to Mercato",
    text: `Hi ${name}, welcome to Mercato! Your account ${event.email} is ready.`,
    data: { email: event.email, name: event.name },
    occurredAt: iso(event.occurredAt),
  };
}

/** Order confirmation. */
export function orderConfirmed(event: OrderConfirmed): RenderedMessage {
  const total = formatMoney(event.total);
  return {
    userId: requireUser(event.userId, "OrderConfirmed"),
    subject: `Your order ${shortId(event.orderId)} is confirmed`,
    text:
      `Thank you for your order ${shortId(event.orderId)}: ${event.itemCount} item(s)` +
      `${total ? ` for ${total}` : ""}. We will tell you when it ships.`,
    data: {
      order_id: event.orderId,
      item_count: event.itemCount,
      total: event.total
        ? { currency_code: event.total.currencyCode, amount_minor: event.total.amountMinor.toString() }
        : null,
    },
    occurredAt: iso(event.occurredAt),
  };
}

/** Order cancellation. */
export function orderCancelled(event: OrderCancelled): RenderedMessage {
  return {
    userId: requireUser(event.userId, "OrderCancelled"),
    subject: `Your order ${shortId(event.orderId)} was cancelled`,
    text:
      `Your order ${shortId(event.orderId)} was cancelled${event.reason ? `: ${event.reason}` : ""}. ` +
      "Any payment authorization has been released.",
    data: { order_id: event.orderId, reason: event.reason },
    occurredAt: iso(event.occurredAt),
  };
}

/** The parcel left the warehouse. */
export function shipmentShipped(event: ShipmentShipped): RenderedMessage {
  return {
    userId: requireUser(event.userId, "ShipmentShipped"),
    subject: `Your order ${shortId(event.orderId)} has shipped`,
    text: `Your order ${shortId(event.orderId)} is on its way. Tracking number: ${event.trackingNumber}.`,
    data: { order_id: event.orderId, shipment_id: event.shipmentId, tracking_number: event.trackingNumber },
    occurredAt: iso(event.occurredAt),
  };
}

/** The parcel arrived. */
export function shipmentDelivered(event: ShipmentDelivered): RenderedMessage {
  return {
    userId: requireUser(event.userId, "ShipmentDelivered"),
    subject: `Your order ${shortId(event.orderId)} was delivered`,
    text: `Your order ${shortId(event.orderId)} was delivered. Enjoy!`,
    data: { order_id: event.orderId, shipment_id: event.shipmentId, tracking_number: event.trackingNumber },
    occurredAt: iso(event.occurredAt),
  };
}
