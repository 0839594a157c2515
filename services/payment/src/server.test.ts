import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, fieldViolationsOf, ServiceError } from "@mercato/platform/errors";
import { outbox } from "@mercato/platform/events";
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import { createLogger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import {
  PaymentAuthorizedSchema,
  PaymentFailedSchema,
  PaymentRefundedSchema,
} from "@mercato/sdk/gen/mercato/payment/v1/events_pb";
import { PaymentService, PaymentStatus } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { testDatabaseUrl, testNatsUrl, waitFor } from "@mercato/testing";
import { and, eq, isNull, sql } from "drizzle-orm";
import type { JsMsg } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPaymentConfig, type PaymentConfig } from "./config.js";
import { type PaymentSchema, payments, voidTombstones } from "./db/schema.js";
import { authorizeRequestHash, tokenFingerprint } from "./domain/payment.js";
import { subjects } from "./events/publish.js";
import { TestPaymentProvider } from "./provider/test-provider.js";
import { paymentService } from "./server.js";

let service: RunningService<PaymentSchema>;
let provider: TestPaymentProvider;
let client: ServiceClient<typeof PaymentService>;
let raw: GrpcClient<typeof PaymentService>;
let config: PaymentConfig;
const logLines: string[] = [];

const logStream = new PassThrough();
logStream.on("data", (chunk: Buffer) => logLines.push(chunk.toString("utf8")));
const logger = createLogger({ service: "payment", level: "debug", destination: logStream });

beforeAll(async () => {
  config = loadPaymentConfig({
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    DATABASE_URL: await testDatabaseUrl("payment"),
    NATS_URL: testNatsUrl(),
    SHUTDOWN_GRACE_MS: "1000",
    PAYMENT_TEST_SLOW_EXTRA_MS: "100",
  });
  service = await runService({
    ...paymentService(config, {
      provider: (deps) => {
        provider = new TestPaymentProvider(deps.database, { slowExtraMs: 100 });
        return provider;
      },
    }),
    logger,
  });
  const address = `127.0.0.1:${service.port}`;
  client = createServiceClient(PaymentService, {
    upstream: "payment",
    address,
    logger,
    breaker: false,
    retry: { maxAttempts: 4, initialBackoffMs: 20, maxBackoffMs: 100, budgetMinRetries: 1000 },
  });
  raw = createGrpcClient(PaymentService, address);
});

afterAll(async () => {
  client?.$close();
  raw?.$close();
  await service?.stop();
});

const eur = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });

function authorizeRequest(
  token: string,
  over: Partial<{ key: string; orderId: string; amount: bigint }> = {},
) {
  const orderId = over.orderId ?? randomUUID();
  return {
    idempotencyKey: over.key ?? `${randomUUID()}:authorize`,
    orderId,
    userId: "user-1",
    amount: eur(over.amount ?? 2_500n),
    paymentToken: token,
  };
}

/** The code (and violations) a call fails with; throws if it succeeds. */
async function failure(
  promise: Promise<unknown>,
): Promise<{ code: number; fields: string[]; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = ServiceError.from(error);
    return { code: e.code, fields: fieldViolationsOf(error).map((v) => v.field), message: e.message };
  }
  throw new Error("expected the call to fail");
}

async function paymentCount(): Promise<number> {
  const [row] = await service.database.query<{ n: string }>(sql`select count(*)::text as n from payments`);
  return Number(row?.n ?? 0);
}

async function outboxCount(): Promise<number> {
  const [row] = await service.database.query<{ n: string }>(sql`select count(*)::text as n from outbox`);
  return Number(row?.n ?? 0);
}

/** Waits until the relay published everything in the outbox. */
async function outboxDrained(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pending = await service.database.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(isNull(outbox.publishedAt));
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending.length} outbox events not published`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every message of the MERCATO_PAYMENT stream whose outbox aggregate (payment id) is one of `ids`. */
async function streamEventsFor(ids: readonly string[]): Promise<JsMsg[]> {
  await outboxDrained();
  const eventIds = new Set(
    (
      await service.database.db
        .select({ id: outbox.id, aggregateId: outbox.aggregateId })
        .from(outbox)
        .where(sql`${outbox.aggregateId} in ${ids}`)
    ).map((r) => r.id),
  );
  const js = service.nats.jetstream();
  const info = await (await service.nats.jetstreamManager()).streams.info("MERCATO_PAYMENT");
  const out: JsMsg[] = [];
  if (info.state.messages === 0) return out;
  const consumer = await js.consumers.get("MERCATO_PAYMENT", { filterSubjects: ["mercato.payment.>"] });
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    const id = m.headers?.get("Nats-Msg-Id");
    if (id && eventIds.has(id)) out.push(m);
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

describe("Authorize with the test tokens", () => {
  it("tok_visa is authorized and emits PaymentAuthorized", async () => {
    const request = authorizeRequest("tok_visa");
    const { payment } = await client.authorize(request);
    expect(payment?.status).toBe(PaymentStatus.AUTHORIZED);
    expect(payment?.amount).toMatchObject({ currencyCode: "EUR", amountMinor: 2_500n });
    expect(payment?.orderId).toBe(request.orderId);
    expect(payment?.providerReference).toMatch(/^tp_/);
    expect(payment?.failureReason).toBe("");

    const events = await streamEventsFor([payment!.id]);
    expect(events.map((e) => e.subject)).toEqual([subjects.authorized]);
    const event = fromBinary(PaymentAuthorizedSchema, events[0]!.data);
    expect(event).toMatchObject({ paymentId: payment!.id, orderId: request.orderId, userId: "user-1" });
    expect(event.amount).toMatchObject({ currencyCode: "EUR", amountMinor: 2_500n });
    expect(events[0]!.headers?.get("Nats-Msg-Id")).toBe(event.eventId);
  });

  it.each([
    ["tok_chargeDeclined", "card_declined"],
    ["tok_insufficientFunds", "insufficient_funds"],
  ])("%s is declined with its reason: FAILED, not an error, and PaymentFailed", async (token, reason) => {
    const request = authorizeRequest(token);
    const { payment } = await client.authorize(request);
    expect(payment?.status).toBe(PaymentStatus.FAILED);
    expect(payment?.failureReason).toBe(reason);
    const again = await client.authorize(request);
    expect(again.payment?.id).toBe(payment?.id);
    expect(again.payment?.status).toBe(PaymentStatus.FAILED);

    const events = await streamEventsFor([payment!.id]);
    expect(events.map((e) => e.subject)).toEqual([subjects.failed]);
    expect(fromBinary(PaymentFailedSchema, events[0]!.data)).toMatchObject({
      paymentId: payment!.id,
      reason,
    });
    expect(await failure(client.capture({ idempotencyKey: "c", paymentId: payment!.id }))).toMatchObject({
      code: Code.FAILED_PRECONDITION,
    });
  });

  it("tok_unavailable fails twice with UNAVAILABLE, then succeeds; the attempts survive in the database", async () => {
    const request = authorizeRequest("tok_unavailable");
    expect((await failure(raw.authorize(request))).code).toBe(Code.UNAVAILABLE);
    expect((await failure(raw.authorize(request))).code).toBe(Code.UNAVAILABLE);
    const [pending] = await service.database.db
      .select()
      .from(payments)
      .where(eq(payments.authorizeKey, request.idempotencyKey));
    expect(pending?.status).toBe("PENDING");
    const { payment } = await raw.authorize(request);
    expect(payment?.status).toBe(PaymentStatus.AUTHORIZED);
    expect(payment?.id).toBe(pending?.id);
    expect(await provider.attempts(request.idempotencyKey)).toBe(3);
    expect((await streamEventsFor([payment!.id])).map((e) => e.subject)).toEqual([subjects.authorized]);
  });

  it("tok_unavailable through a client retrying idempotent writes succeeds on the 3rd attempt", async () => {
    const request = authorizeRequest("tok_unavailable");
    const { payment } = await client.authorize(request, { idempotent: true, timeoutMs: 5_000 });
    expect(payment?.status).toBe(PaymentStatus.AUTHORIZED);
    expect(await provider.attempts(request.idempotencyKey)).toBe(3);
  });

  it("an unknown token is INVALID_ARGUMENT on payment_token, with nothing written and the token not echoed", async () => {
    const before = await paymentCount();
    const result = await failure(raw.authorize(authorizeRequest("tok_stolenCard")));
    expect(result.code).toBe(Code.INVALID_ARGUMENT);
    expect(result.fields).toEqual(["payment_token"]);
    expect(result.message).not.toContain("tok_stolenCard");
    expect(await paymentCount()).toBe(before);
  });
});

describe("Authorize validation", () => {
  it.each([
    ["a zero amount", { amount: eur(0n) }, ["amount.amount_minor"]],
    ["a negative amount", { amount: eur(-5n) }, ["amount.amount_minor"]],
    ["a bad currency", { amount: { currencyCode: "euro", amountMinor: 100n } }, ["amount.currency_code"]],
    ["no amount", { amount: undefined }, ["amount"]],
    [
      "no key, order or user",
      { idempotencyKey: "", orderId: "", userId: "" },
      ["idempotency_key", "order_id", "user_id"],
    ],
  ])("%s is INVALID_ARGUMENT naming the field, with nothing written", async (_name, over, fields) => {
    const before = { payments: await paymentCount(), outbox: await outboxCount() };
    const result = await failure(raw.authorize({ ...authorizeRequest("tok_visa"), ...over }));
    expect(result.code).toBe(Code.INVALID_ARGUMENT);
    expect(result.fields).toEqual(fields);
    expect({ payments: await paymentCount(), outbox: await outboxCount() }).toEqual(before);
  });
});

describe("Authorize idempotency", () => {
  it("the same key and body twice give the same payment, one provider call and one event", async () => {
    const request = authorizeRequest("tok_visa");
    const first = await client.authorize(request);
    const second = await client.authorize(request);
    expect(second.payment?.id).toBe(first.payment?.id);
    expect(second.payment?.status).toBe(PaymentStatus.AUTHORIZED);
    expect(await provider.attempts(request.idempotencyKey)).toBe(1);
    expect((await streamEventsFor([first.payment!.id])).length).toBe(1);
  });

  it("the same key with another body is FAILED_PRECONDITION", async () => {
    const request = authorizeRequest("tok_visa");
    const { payment } = await client.authorize(request);
    for (const changed of [
      { ...request, amount: eur(2_501n) },
      { ...request, orderId: randomUUID() },
      { ...request, paymentToken: "tok_slow" },
      { ...request, amount: { currencyCode: "USD", amountMinor: 2_500n } },
    ]) {
      expect((await failure(raw.authorize(changed))).code).toBe(Code.FAILED_PRECONDITION);
    }
    const rows = await service.database.db
      .select()
      .from(payments)
      .where(eq(payments.orderId, request.orderId));
    expect(rows.map((r) => r.id)).toEqual([payment?.id]);
  });

  it("concurrent calls with one key make one payment and one provider call", async () => {
    const request = authorizeRequest("tok_visa");
    const results = await Promise.all(Array.from({ length: 8 }, () => raw.authorize(request)));
    const ids = new Set(results.map((r) => r.payment?.id));
    expect(ids.size).toBe(1);
    expect(results.every((r) => r.payment?.status === PaymentStatus.AUTHORIZED)).toBe(true);
    expect(await provider.attempts(request.idempotencyKey)).toBe(1);
    const rows = await service.database.db
      .select()
      .from(payments)
      .where(eq(payments.authorizeKey, request.idempotencyKey));
    expect(rows).toHaveLength(1);
    expect((await streamEventsFor([...ids] as string[])).length).toBe(1);
  });

  it("concurrent calls with one key wait for a slow provider call instead of making another", async () => {
    const request = authorizeRequest("tok_slow");
    const deadline = Date.now() + 300;
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => raw.authorize(request, { deadline })),
    );
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await provider.attempts(request.idempotencyKey)).toBe(1);
    const { payment } = await raw.authorize(request);
    expect(payment?.status).toBe(PaymentStatus.AUTHORIZED);
    expect(await provider.attempts(request.idempotencyKey)).toBe(1);
    await raw.void({ idempotencyKey: "cleanup", paymentId: payment!.id });
  });
});

describe("tok_slow and voids racing a late authorization", () => {
  it("DEADLINE_EXCEEDED, then Void by the Authorize key at once: the late authorization is released, nothing capturable", async () => {
    const request = authorizeRequest("tok_slow");
    const started = Date.now();
    const result = await failure(raw.authorize(request, { deadline: Date.now() + 300 }));
    expect(result.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(1_000);

    const voided = await raw.void({ idempotencyKey: request.idempotencyKey, paymentId: "" });
    expect(voided.payment?.status).toBe(PaymentStatus.VOIDED);
    await new Promise((resolve) => setTimeout(resolve, 400)); // the provider answers after deadline + 100 ms

    const [row] = await service.database.db
      .select()
      .from(payments)
      .where(eq(payments.authorizeKey, request.idempotencyKey));
    expect(row?.status).toBe("VOIDED");
    expect(row?.capturedMinor).toBe(0n);
    expect(await provider.state(request.idempotencyKey)).toBe("voided");
    expect((await failure(raw.capture({ idempotencyKey: "cap", paymentId: row!.id }))).code).toBe(
      Code.FAILED_PRECONDITION,
    );
    // A retry of the late Authorize is refused, and nothing was ever announced as authorized.
    expect((await failure(raw.authorize(request))).code).toBe(Code.ABORTED);
    expect(await streamEventsFor([row!.id])).toEqual([]);
  });

  it("DEADLINE_EXCEEDED, then Void once the late authorization completed: it ends VOIDED", async () => {
    const request = authorizeRequest("tok_slow");
    expect((await failure(client.authorize(request, { timeoutMs: 300 }))).code).toBe(Code.DEADLINE_EXCEEDED);
    // The provider answers a little after the deadline: wait for that (not a fixed time, which a slow
    // machine can outlast) before voiding.
    const lateAuthorization = () => raw.getPayment({ key: { case: "orderId", value: request.orderId } });
    await waitFor(async () => (await lateAuthorization()).payment?.status === PaymentStatus.AUTHORIZED, {
      timeoutMs: 30_000,
      message: "the late authorization",
    });
    const late = await lateAuthorization();
    expect(late.payment?.status).toBe(PaymentStatus.AUTHORIZED);

    const voided = await client.void({ idempotencyKey: request.idempotencyKey, paymentId: "" });
    expect(voided.payment?.id).toBe(late.payment?.id);
    expect(voided.payment?.status).toBe(PaymentStatus.VOIDED);
    expect(await provider.state(request.idempotencyKey)).toBe("voided");
    expect((await failure(raw.capture({ idempotencyKey: "cap", paymentId: late.payment!.id }))).code).toBe(
      Code.FAILED_PRECONDITION,
    );
  });

  it("a Void that arrives before its Authorize leaves a tombstone: the late Authorize is ABORTED and writes nothing", async () => {
    const request = authorizeRequest("tok_visa");
    const voided = await raw.void({ idempotencyKey: request.idempotencyKey, paymentId: "" });
    expect(voided.payment).toMatchObject({ id: "", status: PaymentStatus.VOIDED });
    const again = await raw.void({ idempotencyKey: request.idempotencyKey, paymentId: "" });
    expect(again.payment?.status).toBe(PaymentStatus.VOIDED);

    const before = await outboxCount();
    expect((await failure(raw.authorize(request))).code).toBe(Code.ABORTED);
    expect((await failure(raw.authorize(request))).code).toBe(Code.ABORTED);
    expect(
      await service.database.db.select().from(payments).where(eq(payments.orderId, request.orderId)),
    ).toEqual([]);
    expect(await provider.attempts(request.idempotencyKey)).toBe(0);
    expect(await outboxCount()).toBe(before);
    const tombstones = await service.database.db
      .select()
      .from(voidTombstones)
      .where(eq(voidTombstones.authorizeKey, request.idempotencyKey));
    expect(tombstones).toHaveLength(1);
  });

  it("Void and Authorize with one key racing end with nothing authorized or a voided payment, never an authorization left", async () => {
    for (let i = 0; i < 10; i++) {
      const request = authorizeRequest("tok_visa");
      const [authorized] = await Promise.allSettled([
        raw.authorize(request),
        raw.void({ idempotencyKey: request.idempotencyKey, paymentId: "" }),
      ]);
      const rows = await service.database.db
        .select()
        .from(payments)
        .where(eq(payments.authorizeKey, request.idempotencyKey));
      if (authorized.status === "fulfilled") {
        // The Authorize came first; the Void then voided it.
        expect(rows.map((r) => r.status)).toEqual(["VOIDED"]);
      } else {
        expect(ServiceError.from(authorized.reason).code).toBe(Code.ABORTED);
        expect(rows.every((r) => r.status === "VOIDED")).toBe(true);
      }
    }
  });
});

describe("Capture, Void and Refund", () => {
  async function authorized(amount = 10_000n) {
    const request = authorizeRequest("tok_visa", { amount });
    const { payment } = await client.authorize(request);
    return payment!;
  }

  it("captures the authorized amount, idempotently", async () => {
    const payment = await authorized();
    const first = await client.capture({ idempotencyKey: "k1:capture", paymentId: payment.id });
    expect(first.payment?.status).toBe(PaymentStatus.CAPTURED);
    const second = await client.capture({ idempotencyKey: "k1:capture", paymentId: payment.id });
    expect(second.payment?.status).toBe(PaymentStatus.CAPTURED);
    const other = await client.capture({ idempotencyKey: "k2:capture", paymentId: payment.id });
    expect(other.payment?.status).toBe(PaymentStatus.CAPTURED);
    const [row] = await service.database.db.select().from(payments).where(eq(payments.id, payment.id));
    expect(row?.capturedMinor).toBe(10_000n);
    expect(await provider.state(row!.authorizeKey)).toBe("captured");
  });

  it("void after capture is FAILED_PRECONDITION; void is idempotent; capture after void is refused", async () => {
    const captured = await authorized();
    await client.capture({ idempotencyKey: "c", paymentId: captured.id });
    expect((await failure(raw.void({ idempotencyKey: "v", paymentId: captured.id }))).code).toBe(
      Code.FAILED_PRECONDITION,
    );

    const payment = await authorized();
    const voided = await client.void({ idempotencyKey: "v1", paymentId: payment.id });
    expect(voided.payment?.status).toBe(PaymentStatus.VOIDED);
    expect((await client.void({ idempotencyKey: "v1", paymentId: payment.id })).payment?.status).toBe(
      PaymentStatus.VOIDED,
    );
    expect((await failure(raw.capture({ idempotencyKey: "c", paymentId: payment.id }))).code).toBe(
      Code.FAILED_PRECONDITION,
    );
  });

  it("refunds in parts, refuses more than is left with nothing changed, and emits one event per refund", async () => {
    const payment = await authorized(10_000n);
    await client.capture({ idempotencyKey: "c", paymentId: payment.id });
    const key = randomUUID();
    const r1 = await client.refund({
      idempotencyKey: `${key}:r1`,
      paymentId: payment.id,
      amount: eur(3_000n),
      reason: "damaged",
    });
    expect(r1.payment?.status).toBe(PaymentStatus.PARTIALLY_REFUNDED);
    expect(r1.payment?.refunded?.amountMinor).toBe(3_000n);
    // Repeating the same refund is a no-op.
    const r1again = await client.refund({
      idempotencyKey: `${key}:r1`,
      paymentId: payment.id,
      amount: eur(3_000n),
      reason: "damaged",
    });
    expect(r1again.payment?.refunded?.amountMinor).toBe(3_000n);
    // The same key with another amount is refused.
    expect(
      (
        await failure(
          raw.refund({
            idempotencyKey: `${key}:r1`,
            paymentId: payment.id,
            amount: eur(1n),
            reason: "damaged",
          }),
        )
      ).code,
    ).toBe(Code.FAILED_PRECONDITION);

    const r2 = await client.refund({
      idempotencyKey: `${key}:r2`,
      paymentId: payment.id,
      amount: eur(5_000n),
      reason: "",
    });
    expect(r2.payment?.refunded?.amountMinor).toBe(8_000n);

    const outboxBefore = await outboxCount();
    const tooMuch = await failure(
      raw.refund({ idempotencyKey: `${key}:r3`, paymentId: payment.id, amount: eur(2_001n), reason: "" }),
    );
    expect(tooMuch.code).toBe(Code.FAILED_PRECONDITION);
    const [unchanged] = await service.database.db.select().from(payments).where(eq(payments.id, payment.id));
    expect(unchanged).toMatchObject({
      status: "PARTIALLY_REFUNDED",
      refundedMinor: 8_000n,
      capturedMinor: 10_000n,
    });
    expect(await outboxCount()).toBe(outboxBefore);

    const rest = await client.refund({
      idempotencyKey: `${key}:r4`,
      paymentId: payment.id,
      reason: "all of it",
    });
    expect(rest.payment?.status).toBe(PaymentStatus.REFUNDED);
    expect(rest.payment?.refunded?.amountMinor).toBe(10_000n);
    expect(
      (await failure(raw.refund({ idempotencyKey: `${key}:r5`, paymentId: payment.id, reason: "" }))).code,
    ).toBe(Code.FAILED_PRECONDITION);

    const events = await streamEventsFor([payment.id]);
    expect(events.map((e) => e.subject)).toEqual([
      subjects.authorized,
      subjects.refunded,
      subjects.refunded,
      subjects.refunded,
    ]);
    const refunds = events.slice(1).map((e) => fromBinary(PaymentRefundedSchema, e.data));
    expect(refunds.map((r) => [r.amount?.amountMinor, r.refundedTotal?.amountMinor, r.reason])).toEqual([
      [3_000n, 3_000n, "damaged"],
      [5_000n, 8_000n, ""],
      [2_000n, 10_000n, "all of it"],
    ]);
  });

  it("refuses refunds of uncaptured payments, bad amounts and another currency", async () => {
    const payment = await authorized();
    expect((await failure(raw.refund({ idempotencyKey: "r", paymentId: payment.id, reason: "" }))).code).toBe(
      Code.FAILED_PRECONDITION,
    );
    await client.capture({ idempotencyKey: "c", paymentId: payment.id });
    expect(
      await failure(raw.refund({ idempotencyKey: "r", paymentId: payment.id, amount: eur(0n), reason: "" })),
    ).toMatchObject({ code: Code.INVALID_ARGUMENT, fields: ["amount.amount_minor"] });
    expect(
      await failure(
        raw.refund({
          idempotencyKey: "r",
          paymentId: payment.id,
          amount: { currencyCode: "USD", amountMinor: 1n },
          reason: "",
        }),
      ),
    ).toMatchObject({ code: Code.INVALID_ARGUMENT, fields: ["amount.currency_code"] });
  });

  it("concurrent refunds never exceed what was captured", async () => {
    const payment = await authorized(10_000n);
    await client.capture({ idempotencyKey: "c", paymentId: payment.id });
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        raw.refund({
          idempotencyKey: `${payment.id}:r${i}`,
          paymentId: payment.id,
          amount: eur(3_000n),
          reason: "",
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    const [row] = await service.database.db.select().from(payments).where(eq(payments.id, payment.id));
    expect(row?.refundedMinor).toBe(9_000n);
  });

  it("unknown payments are NOT_FOUND and malformed ids INVALID_ARGUMENT", async () => {
    const id = "0190b2a4-0000-7000-8000-000000000000";
    expect((await failure(raw.capture({ idempotencyKey: "c", paymentId: id }))).code).toBe(Code.NOT_FOUND);
    expect((await failure(raw.void({ idempotencyKey: "v", paymentId: id }))).code).toBe(Code.NOT_FOUND);
    expect((await failure(raw.getPayment({ key: { case: "paymentId", value: id } }))).code).toBe(
      Code.NOT_FOUND,
    );
    expect(await failure(raw.capture({ idempotencyKey: "c", paymentId: "nope" }))).toMatchObject({
      code: Code.INVALID_ARGUMENT,
      fields: ["payment_id"],
    });
    expect((await failure(raw.getPayment({}))).code).toBe(Code.INVALID_ARGUMENT);
  });

  it("GetPayment finds a payment by id and by order", async () => {
    const payment = await authorized();
    const byId = await client.getPayment({ key: { case: "paymentId", value: payment.id } });
    const byOrder = await client.getPayment({ key: { case: "orderId", value: payment.orderId } });
    expect(byId.payment?.id).toBe(payment.id);
    expect(byOrder.payment?.id).toBe(payment.id);
  });
});

describe("restarts and replicas", () => {
  it("tok_unavailable counts attempts in the database: a restarted process continues the count", async () => {
    const request = authorizeRequest("tok_unavailable");
    expect((await failure(raw.authorize(request))).code).toBe(Code.UNAVAILABLE);

    // A second process on the same database (a restart, or another replica).
    const other = await runService({ ...paymentService(config), logger });
    const otherClient = createGrpcClient(PaymentService, `127.0.0.1:${other.port}`);
    try {
      expect((await failure(otherClient.authorize(request))).code).toBe(Code.UNAVAILABLE);
      const { payment } = await otherClient.authorize(request);
      expect(payment?.status).toBe(PaymentStatus.AUTHORIZED);
      // Back on the first process: the same payment, no new provider call.
      const again = await raw.authorize(request);
      expect(again.payment?.id).toBe(payment?.id);
      expect(await provider.attempts(request.idempotencyKey)).toBe(3);
      expect((await streamEventsFor([payment!.id])).map((e) => e.subject)).toEqual([subjects.authorized]);
    } finally {
      otherClient.$close();
      await other.stop();
    }
  });

  it("a pending payment whose owner died (lease expired) is taken over by the retry, with one event", async () => {
    const request = authorizeRequest("tok_visa");
    // What a process killed during its provider call leaves behind: a PENDING row with a live lease.
    const [row] = await service.database.db
      .insert(payments)
      .values({
        id: "0190b2a4-1111-7000-8000-000000000001",
        authorizeKey: request.idempotencyKey,
        requestHash: authorizeRequestHash(request),
        orderId: request.orderId,
        userId: request.userId,
        currencyCode: "EUR",
        amountMinor: 2_500n,
        status: "PENDING",
        tokenFingerprint: tokenFingerprint(request.paymentToken),
        leaseUntil: new Date(Date.now() + 400),
      })
      .returning();
    // The retry waits for the lease, then drives the provider itself.
    const started = Date.now();
    const { payment } = await raw.authorize(request, { deadline: Date.now() + 3_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(payment).toMatchObject({ id: row!.id, status: PaymentStatus.AUTHORIZED });
    expect(await provider.attempts(request.idempotencyKey)).toBe(1);
    expect((await streamEventsFor([row!.id])).length).toBe(1);
  });
});

describe("secrets", () => {
  it("no token reaches the logs, the database or the events", async () => {
    const lines = logLines.join("");
    expect(lines.length).toBeGreaterThan(0);
    for (const token of ["tok_visa", "tok_slow", "tok_unavailable", "tok_chargeDeclined", "tok_stolenCard"]) {
      expect(lines).not.toContain(token);
    }
    const dump = await service.database.query<{ t: string }>(
      sql`select (select coalesce(string_agg(p::text, ' '), '') from payments p) || (select coalesce(string_agg(encode(payload, 'escape') || headers::text, ' '), '') from outbox) as t`,
    );
    expect(dump[0]?.t).not.toMatch(/tok_/);
    const rows = await service.database.db
      .select({ fingerprint: payments.tokenFingerprint })
      .from(payments)
      .where(and(eq(payments.status, "AUTHORIZED")))
      .limit(1);
    expect(rows[0]?.fingerprint).toMatch(/^[0-9a-f]{24}$/);
  });
});
