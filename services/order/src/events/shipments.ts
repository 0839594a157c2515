/**
 * The hook for fulfilment by choreography: when shipping's events arrive (a durable consumer of
 * MERCATO_SHIPPING, to be wired in `server.ts`'s `start`), the consumer calls these commands inside
 * its inbox transaction. They append OrderShipped / OrderDelivered to the aggregate (with projections
 * and outbox, like every append) and are idempotent: a repeated event changes nothing.
 */
import type { Database } from "@mercato/platform/db";
import { failedPrecondition } from "@mercato/platform/errors";
import { eq } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { executeCommand } from "../db/event-store.js";
import { sagas } from "../db/schema.js";
import { decideDeliver, decideShip, OrderRuleError, type OrderState } from "../domain/order.js";
import { SagaState } from "../domain/saga.js";

/** Records that the order's shipment was handed to the carrier. */
export async function recordShipped(
  // biome-ignore lint/suspicious/noExplicitAny: uses the order tables through SqlExecutor
  database: Database<any>,
  shipment: { readonly orderId: string; readonly shipmentId: string; readonly trackingNumber: string },
): Promise<OrderState> {
  const now = new Date();
  const eventId = uuidv7();
  try {
    const { state } = await executeCommand(database, shipment.orderId, async (state, tx) => {
      // Lock the saga row, as CancelOrder does, so a cancellation and a shipment cannot both win.
      const [saga] = await tx
        .select({ state: sagas.state })
        .from(sagas)
        .where(eq(sagas.orderId, shipment.orderId))
        .for("update");
      if (saga && saga.state === SagaState.COMPENSATING) {
        throw new OrderRuleError("the order is being cancelled");
      }
      return decideShip(state, shipment, { eventId, now });
    });
    return state;
  } catch (error) {
    if (error instanceof OrderRuleError) throw failedPrecondition(error.message);
    throw error;
  }
}

/** Records that the order was delivered. */
export async function recordDelivered(
  // biome-ignore lint/suspicious/noExplicitAny: uses the order tables through SqlExecutor
  database: Database<any>,
  delivery: { readonly orderId: string; readonly shipmentId: string },
): Promise<OrderState> {
  const now = new Date();
  const eventId = uuidv7();
  try {
    const { state } = await executeCommand(database, delivery.orderId, (state) =>
      decideDeliver(state, delivery.shipmentId, { eventId, now }),
    );
    return state;
  } catch (error) {
    if (error instanceof OrderRuleError) throw failedPrecondition(error.message);
    throw error;
  }
}
