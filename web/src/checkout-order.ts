/**
 * Placing an order at checkout and waiting for the saga's answer, apart from the page so the contract
 * tests run the same calls against Pact's mock server.
 */
import type { MercatoClient } from "@mercato/sdk/clients";
import { type Order, OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";

/** What the checkout form gives. */
export interface CheckoutInput {
  /** One key per checkout attempt: a retried request is the same order, a new attempt a new one. */
  readonly idempotencyKey: string;
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  /** The payment provider's token (a test card's). */
  readonly card: string;
  readonly address: {
    readonly name: string;
    readonly line1: string;
    readonly line2: string;
    readonly city: string;
    readonly region: string;
    readonly postalCode: string;
    readonly countryCode: string;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls an order until its saga has decided (no longer PENDING). */
export async function outcomeOf(api: MercatoClient, orderId: string, pollMs = 500): Promise<Order> {
  for (;;) {
    const { order } = await api.order.getOrder({ orderId });
    if (order !== undefined && order.status !== OrderStatus.PENDING) return order;
    await sleep(pollMs);
  }
}

/**
 * Places the order and resolves with it once the saga has decided: CONFIRMED (or later), or CANCELLED
 * with its reason (a declined card). Invalid input and refusals reject with the edge's ConnectError.
 */
export async function placeOrderAndWait(
  api: MercatoClient,
  input: CheckoutInput,
  options: { readonly onPlaced?: () => void; readonly pollMs?: number } = {},
): Promise<Order> {
  const placed = await api.order.placeOrder({
    idempotencyKey: input.idempotencyKey,
    lines: input.lines.map((line) => ({ productId: line.productId, quantity: line.quantity })),
    paymentToken: input.card,
    shippingAddress: { ...input.address, countryCode: input.address.countryCode.toUpperCase() },
  });
  options.onPlaced?.();
  return outcomeOf(api, placed.order!.id, options.pollMs);
}
