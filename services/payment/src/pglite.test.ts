import { type RunningService, runService } from "@mercato/platform/service";
import { PaymentService, PaymentStatus } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { testNatsUrl } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPaymentConfig } from "./config.js";
import type { PaymentSchema } from "./db/schema.js";
import { paymentService } from "./server.js";

// Local runs use embedded PGlite: one connection, so nothing may wait for a second one while a
// transaction is open (the test provider writes its books in the caller's transaction).
describe("on embedded PGlite", () => {
  let service: RunningService<PaymentSchema>;
  let client: GrpcClient<typeof PaymentService>;

  beforeAll(async () => {
    const config = loadPaymentConfig({
      GRPC_PORT: "0",
      ADMIN_PORT: "0",
      DATA_DIR: "memory://",
      NATS_URL: testNatsUrl(),
      LOG_LEVEL: "silent",
      SHUTDOWN_GRACE_MS: "1000",
    });
    service = await runService(paymentService(config));
    client = createGrpcClient(PaymentService, `127.0.0.1:${service.port}`);
  });

  afterAll(async () => {
    client?.$close();
    await service?.stop();
  });

  it("authorizes, captures, refunds, voids and tombstones", async () => {
    const deadline = () => Date.now() + 5_000;
    const amount = { currencyCode: "EUR", amountMinor: 1_999n };
    const base = { orderId: "o1", userId: "u1", amount };
    const { payment } = await client.authorize(
      { ...base, idempotencyKey: "s1:authorize", paymentToken: "tok_visa" },
      { deadline: deadline() },
    );
    expect(payment?.status).toBe(PaymentStatus.AUTHORIZED);
    const captured = await client.capture(
      { idempotencyKey: "s1:capture", paymentId: payment!.id },
      { deadline: deadline() },
    );
    expect(captured.payment?.status).toBe(PaymentStatus.CAPTURED);
    const refunded = await client.refund(
      { idempotencyKey: "s1:refund", paymentId: payment!.id, reason: "test" },
      { deadline: deadline() },
    );
    expect(refunded.payment?.status).toBe(PaymentStatus.REFUNDED);

    const second = await client.authorize(
      { ...base, idempotencyKey: "s2:authorize", paymentToken: "tok_visa" },
      { deadline: deadline() },
    );
    const voided = await client.void(
      { idempotencyKey: "s2:void", paymentId: second.payment!.id },
      { deadline: deadline() },
    );
    expect(voided.payment?.status).toBe(PaymentStatus.VOIDED);

    const tombstone = await client.void(
      { idempotencyKey: "s3:authorize", paymentId: "" },
      { deadline: deadline() },
    );
    expect(tombstone.payment?.status).toBe(PaymentStatus.VOIDED);
    await expect(
      client.authorize(
        { ...base, idempotencyKey: "s3:authorize", paymentToken: "tok_visa" },
        { deadline: deadline() },
      ),
    ).rejects.toMatchObject({ code: 10 });
  });
});
