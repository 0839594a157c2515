/**
 * Fulfilment by choreography, order's side: shipping's ShipmentShipped and ShipmentDelivered (see
 * `consumers.ts`) become OrderShipped and OrderDelivered on the aggregate, with projections (status
 * SHIPPED, DELIVERED) and outbox (`mercato.order.order_shipped`, `…order_delivered`) like every
 * append. These commands run inside the caller's transaction — the consumer's inbox transaction, so
 * an event and its effect commit together — and are idempotent: a repeated event changes nothing.
 */
import type { SqlExecutor } from "@mercato/platform/db";
import { failedPrecondition } from "@mercato/platform/errors";
import { eq } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { executeCommandIn } from "../db/event-store.js";
import { sagas } from "../db/schema.js";
import {
  apply,
  decideDeliver,
  decideShip,
  type OrderEvent,
  OrderRuleError,
  type OrderState,
} from "../domain/order.js";
import { SagaState } from "../domain/saga.js";

/** A shipment as shipping's events describe it. */
export interface ShipmentFacts {
  readonly orderId: string;
  readonly shipmentId: string;
  readonly trackingNumber: string;
}

/**
 * Locks the order's saga row, as CancelOrder does, so a cancellation and a shipment cannot both win;
 * refuses while the saga is compensating (a cancellation is under way).
 */
async function lockAgainstCancellation(tx: SqlExecutor, orderId: string): Promise<void> {
  const [saga] = await tx
    .select({ state: sagas.state })
    .from(sagas)
    .where(eq(sagas.orderId, orderId))
    .for("update");
  if (saga && saga.state === SagaState.COMPENSATING) {
    throw new OrderRuleError("the order is being cancelled");
  }
}

async function run(
  tx: SqlExecutor,
  orderId: string,
  decide: (state: OrderState, tx: SqlExecutor) => Promise<OrderEvent[]>,
): Promise<OrderState> {
  try {
    return (await executeCommandIn(tx, orderId, decide)).state;
  } catch (error) {
    if (error instanceof OrderRuleError) throw failedPrecondition(error.message);
    throw error;
  }
}

/**
 * Records that the order's shipment was handed to the carrier (OrderShipped). A shipped or
 * delivered order is left as it is; a pending or cancelled one, or one being cancelled, is
 * FAILED_PRECONDITION.
 *
 * @param tx - the caller's transaction (or the database, for a transaction of its own)
 */
export async function recordShipped(tx: SqlExecutor, shipment: ShipmentFacts): Promise<OrderState> {
  const now = new Date();
  const eventId = uuidv7();
  return run(tx, shipment.orderId, async (state, savepoint) => {
    const events = decideShip(state, shipment, { eventId, now });
    if (events.length > 0) await lockAgainstCancellation(savepoint, shipment.orderId);
    return events;
  });
}

/**
 * Records that the order was delivered (OrderDelivered). Events of the two consumers may arrive in
 * either order: a delivery reported before the hand-over records OrderShipped first (from the same
 * shipment), so the history is always placed → confirmed → shipped → delivered and a late
 * ShipmentShipped changes nothing. A delivered order is left as it is; a pending or cancelled one,
 * or one being cancelled, is FAILED_PRECONDITION.
 *
 * @param tx - the caller's transaction (or the database, for a transaction of its own)
 */
export async function recordDelivered(tx: SqlExecutor, delivery: ShipmentFacts): Promise<OrderState> {
  const now = new Date();
  const shippedId = uuidv7();
  const deliveredId = uuidv7();
  return run(tx, delivery.orderId, async (state, savepoint) => {
    const shipped = decideShip(state, delivery, { eventId: shippedId, now });
    if (shipped.length > 0) await lockAgainstCancellation(savepoint, delivery.orderId);
    const current = shipped.reduce<OrderState>((s, event) => apply(s, event), state);
    return [...shipped, ...decideDeliver(current, delivery.shipmentId, { eventId: deliveredId, now })];
  });
}
