/**
 * Places an order through the Mercato edge with @mercato/sdk, over the Connect protocol: registers a
 * customer, logs in, lists products, orders one unit of the first one with the test card `tok_visa`,
 * and reads the order back until the saga has settled. Prints the order as JSON.
 *
 * ```sh
 * MERCATO_URL=http://127.0.0.1:8080 node --import tsx packages/sdk/examples/place-order.ts
 * ```
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { toJsonString } from "@bufbuild/protobuf";
import { orderV1 } from "@mercato/sdk";
import { createMercatoClient } from "@mercato/sdk/connect";

const baseUrl = process.env.MERCATO_URL ?? "http://127.0.0.1:8080";
const email = `ts-example-${randomUUID()}@example.com`;
const password = "a long enough secret";

const anonymous = createMercatoClient(baseUrl, { defaultTimeoutMs: 10_000 });
await anonymous.identity.register({ email, password, name: "TypeScript Example" });
const { accessToken } = await anonymous.identity.login({ email, password });

const mercato = createMercatoClient(baseUrl, { token: accessToken, defaultTimeoutMs: 30_000 });
const { products } = await mercato.catalog.listProducts({ pageSize: 10 });
const product = products[0];
if (product === undefined) throw new Error("the catalog is empty");

let { order } = await mercato.order.placeOrder({
  idempotencyKey: randomUUID(),
  lines: [{ productId: product.id, quantity: 1 }],
  paymentToken: "tok_visa",
  shippingAddress: {
    name: "Ada",
    line1: "1 Main St",
    city: "Berlin",
    postalCode: "10115",
    countryCode: "DE",
  },
});
const settleBy = Date.now() + 60_000;
while (order?.status === orderV1.OrderStatus.PENDING) {
  if (Date.now() > settleBy) throw new Error(`order ${order.id} is still pending`);
  await sleep(200);
  ({ order } = await mercato.order.getOrder({ orderId: order.id }));
}
if (order === undefined) throw new Error("PlaceOrder returned no order");
process.stdout.write(`${toJsonString(orderV1.OrderSchema, order)}\n`);
