import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";

/** What {@link eventPayload} returns: spread it into `enqueueEvent`'s argument. */
export interface EncodedEvent {
  /** Full protobuf type name, e.g. `mercato.order.v1.OrderPlaced`. */
  readonly type: string;
  /** Protobuf binary. */
  readonly payload: Uint8Array;
}

/**
 * Encodes an event message for the outbox.
 *
 * @example enqueueEvent(tx, { subject: "mercato.order.placed", aggregateId: id, ...eventPayload(OrderPlacedSchema, event) })
 */
export function eventPayload<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): EncodedEvent {
  return { type: schema.typeName, payload: toBinary(schema, message) };
}

/** Thrown by {@link decodeEvent} when the event's type header names another message. */
export class EventTypeMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string | undefined,
  ) {
    super(`event type is ${actual ?? "(missing)"}, expected ${expected}`);
    this.name = "EventTypeMismatchError";
  }
}

/**
 * Decodes an event's protobuf payload after checking its type header names `schema`'s message.
 *
 * @throws EventTypeMismatchError when the type differs; an Error when the payload is not valid binary
 */
export function decodeEvent<Desc extends DescMessage>(
  schema: Desc,
  event: { readonly type: string | undefined; readonly data: Uint8Array },
): MessageShape<Desc> {
  if (event.type !== schema.typeName) throw new EventTypeMismatchError(schema.typeName, event.type);
  return fromBinary(schema, event.data);
}
