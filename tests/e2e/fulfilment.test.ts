import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { verifySignature } from "@mercato/notification/signature";
import { waitFor } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "./harness.js";
import { createProduct, newCustomer, paths, placeOrder, waitForStatus } from "./shop-helpers.js";

interface Delivery {
  readonly eventId: string;
  readonly eventType: string;
  readonly verified: boolean;
  readonly tamperedVerifies: boolean;
}

let e2e: E2eSystem;
let adminToken: string;
let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];
let secret = "";

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const signature = request.headers["mercato-signature"] as string | undefined;
      deliveries.push({
        eventId: String(request.headers["mercato-event-id"]),
        eventType: String(request.headers["mercato-event-type"]),
        verified: verifySignature(secret, signature, body),
        tamperedVerifies: verifySignature(secret, signature, body.replace(/.$/, " ")),
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  // The receiver is a plain-http server on this machine: allowed here explicitly, refused by default.
  e2e = await startE2eSystem({
    serviceEnv: { notification: { WEBHOOK_ALLOW_HTTP: "true", WEBHOOK_ALLOW_PRIVATE: "true" } },
  });
  adminToken = await e2e.login(admin.email, admin.password);
}, 120_000);

afterAll(async () => {
  await e2e?.stop();
  receiver?.close();
});

describe("fulfilment by choreography", () => {
  it("placed → confirmed → shipped → delivered, told to the customer by signed webhook, each event once", async () => {
    const product = await createProduct(e2e, adminToken, 2000, 5);
    const customer = await newCustomer(e2e);
    const hook = await e2e.call(
      `${paths.notification}/RegisterWebhook`,
      { userId: customer.userId, url: receiverUrl },
      customer.token,
    );
    expect(hook.status).toBe(200);
    secret = hook.body.webhook.secret;
    expect(secret).toBeTruthy();

    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 1 }],
      "tok_visa",
    );
    const orderId = placed.body.order.id as string;
    await waitForStatus(e2e, customer.token, orderId, ["ORDER_STATUS_CONFIRMED"]);

    let shipment: { id: string; status: string } | undefined;
    await waitFor(
      async () => {
        const response = await e2e.call(`${paths.shipping}/GetShipment`, { orderId }, customer.token);
        shipment = response.body?.shipment;
        return response.status === 200;
      },
      { timeoutMs: 20_000, intervalMs: 100, message: "no shipment was created for the confirmed order" },
    );
    expect(shipment!.status).toBe("SHIPMENT_STATUS_LABEL_CREATED");

    const customerAdvances = await e2e.call(
      `${paths.shipping}/AdvanceShipment`,
      { shipmentId: shipment!.id },
      customer.token,
    );
    expect(customerAdvances.status).toBe(403);

    const shipped = await e2e.call(
      `${paths.shipping}/AdvanceShipment`,
      { shipmentId: shipment!.id },
      adminToken,
    );
    expect(shipped.status).toBe(200);
    await waitForStatus(e2e, customer.token, orderId, ["ORDER_STATUS_SHIPPED"]);

    const lateCancel = await e2e.call(
      `${paths.order}/CancelOrder`,
      { orderId, reason: "too late" },
      customer.token,
    );
    expect(lateCancel.body.code).toBe("failed_precondition");

    const delivered = await e2e.call(
      `${paths.shipping}/AdvanceShipment`,
      { shipmentId: shipment!.id },
      adminToken,
    );
    expect(delivered.status).toBe(200);
    await waitForStatus(e2e, customer.token, orderId, ["ORDER_STATUS_DELIVERED"]);
    const beyond = await e2e.call(
      `${paths.shipping}/AdvanceShipment`,
      { shipmentId: shipment!.id },
      adminToken,
    );
    expect(beyond.body.code).toBe("failed_precondition");

    await waitFor(() => deliveries.length >= 3, { timeoutMs: 20_000, message: "webhook deliveries missing" });
    const types = deliveries.map((d) => d.eventType);
    expect(types.findIndex((t) => /OrderConfirmed/.test(t))).toBeLessThan(
      types.findIndex((t) => /ShipmentShipped/.test(t)),
    );
    expect(types.findIndex((t) => /ShipmentShipped/.test(t))).toBeLessThan(
      types.findIndex((t) => /ShipmentDelivered/.test(t)),
    );
    expect(deliveries.every((d) => d.verified)).toBe(true);
    expect(deliveries.some((d) => d.tamperedVerifies)).toBe(false);
    expect(new Set(deliveries.map((d) => d.eventId)).size).toBe(deliveries.length);

    const notifications = await e2e.call(
      `${paths.notification}/ListNotifications`,
      { userId: customer.userId, pageSize: 50 },
      customer.token,
    );
    const listed = (notifications.body.notifications as { eventType: string }[])
      .map((n) => n.eventType)
      .join(" ");
    for (const type of ["UserRegistered", "OrderConfirmed", "ShipmentShipped", "ShipmentDelivered"]) {
      expect(listed).toContain(type);
    }
  }, 90_000);

  it("a customer cannot read another's shipment or notifications", async () => {
    const product = await createProduct(e2e, adminToken, 1000, 5);
    const owner = await newCustomer(e2e);
    const other = await newCustomer(e2e);
    const placed = await placeOrder(e2e, owner.token, [{ productId: product.id, quantity: 1 }], "tok_visa");
    const orderId = placed.body.order.id as string;
    await waitForStatus(e2e, owner.token, orderId, ["ORDER_STATUS_CONFIRMED"]);
    await waitFor(
      async () => (await e2e.call(`${paths.shipping}/GetShipment`, { orderId }, owner.token)).status === 200,
      {
        timeoutMs: 20_000,
      },
    );
    const peek = await e2e.call(`${paths.shipping}/GetShipment`, { orderId }, other.token);
    expect([403, 404]).toContain(peek.status);
    const notes = await e2e.call(
      `${paths.notification}/ListNotifications`,
      { userId: owner.userId },
      other.token,
    );
    expect(notes.status).toBe(403);
    const hook = await e2e.call(
      `${paths.notification}/RegisterWebhook`,
      { userId: owner.userId, url: receiverUrl },
      other.token,
    );
    expect(hook.status).toBe(403);
  });
});
