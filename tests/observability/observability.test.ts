/**
 * Observability of the whole system, end to end: every process runs with OTLP pointed at a collector
 * this test runs, one order is placed through the edge with a known request id and trace parent,
 * and the test checks the trace it produced, the metrics every admin port exports, the JSON logs,
 * and that the chart's dashboard and alert rules only use metrics the services really export.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  type CollectedSpan,
  type OtlpCollector,
  OtlpSpanKind,
  startOtlpCollector,
  waitFor,
} from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { find, profiles, render } from "../deploy/support.js";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { createProduct, paths, placeOrder, waitForStatus } from "../e2e/shop-helpers.js";
import { type Exposition, has, metricNamesIn, scrape, total } from "./exposition.js";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

let collector: OtlpCollector;
let e2e: E2eSystem;
const output = new Map<string, string[]>();
const before = new Map<string, Exposition>();

// The flow under observation, with everything a leak check needs to look for.
const requestId = `obs-${randomUUID()}`;
const traceId = hex(16);
const callerSpanId = hex(8);
const password = `obs-password-${hex(6)}`;
const paymentToken = "tok_visa";
let accessToken: string;
let userId: string;
let orderId: string;

async function scrapeAll(): Promise<Map<string, Exposition>> {
  const scraped = new Map<string, Exposition>();
  for (const [name, process] of e2e.system.processes) scraped.set(name, await scrape(process.adminPort));
  return scraped;
}

beforeAll(async () => {
  collector = await startOtlpCollector();
  e2e = await startE2eSystem({
    name: "obs",
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      // Export spans within a fraction of a second instead of the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: "200",
      LOG_LEVEL: "info",
    },
    // The edge writes its per-call line at debug; the strict class (login) is small enough to trip.
    serviceEnv: { gateway: { LOG_LEVEL: "debug", RATE_LIMIT_STRICT: "20/1m" } },
    onOutput: (process, line) => {
      const lines = output.get(process) ?? [];
      lines.push(line);
      output.set(process, lines);
    },
  });
  for (const [name, exposition] of await scrapeAll()) before.set(name, exposition);

  const adminToken = await e2e.login(admin.email, admin.password);
  const product = await createProduct(e2e, adminToken, 1500, 10);
  const email = `obs-${randomUUID()}@example.com`;
  const registered = await e2e.call(`${paths.identity}/Register`, { email, password, name: "Obs" });
  expect(registered.status).toBe(200);
  userId = registered.body.user.id;
  accessToken = await e2e.login(email, password);

  const placed = await e2e.call(
    `${paths.order}/PlaceOrder`,
    {
      idempotencyKey: randomUUID(),
      lines: [{ productId: product.id, quantity: 1 }],
      paymentToken,
      shippingAddress: {
        name: "Obs",
        line1: "1 Main St",
        city: "Berlin",
        postalCode: "10115",
        countryCode: "DE",
      },
    },
    accessToken,
    { "x-request-id": requestId, traceparent: `00-${traceId}-${callerSpanId}-01` },
  );
  expect(placed.status).toBe(200);
  expect(placed.headers.get("x-request-id")).toBe(requestId);
  orderId = placed.body.order.id;
  expect((await waitForStatus(e2e, accessToken, orderId, ["ORDER_STATUS_CONFIRMED"])).id).toBe(orderId);
  await waitFor(
    async () => (await e2e.call(`${paths.shipping}/GetShipment`, { orderId }, accessToken)).status === 200,
    { timeoutMs: 30_000, message: "no shipment was created" },
  );

  // A declined card: a saga that compensates, with its reason.
  const declined = await placeOrder(
    e2e,
    accessToken,
    [{ productId: product.id, quantity: 1 }],
    "tok_chargeDeclined",
  );
  await waitForStatus(e2e, accessToken, declined.body.order.id, ["ORDER_STATUS_CANCELLED"]);
  const listed = await e2e.call(`${paths.notification}/ListNotifications`, { userId }, accessToken);
  expect(listed.status).toBe(200);
}, 180_000);

afterAll(async () => {
  await e2e?.stop();
  await collector?.close();
});

describe("traces", () => {
  const inTrace = () => collector.spans().filter((s) => s.traceId === traceId);
  const one = (spans: readonly CollectedSpan[], service: string, kind: number, name: string) => {
    const found = spans.filter((s) => s.service === service && s.kind === kind && s.name === name);
    expect(
      found.map((s) => `${s.service} ${s.name}`),
      `${service} ${name}`,
    ).toHaveLength(1);
    return found[0]!;
  };

  it("one PlaceOrder is one trace through the edge, the services and the event consumers", async () => {
    const byId = () => new Map(inTrace().map((s) => [s.spanId, s]));
    // Spans arrive in batches from eight processes: wait until every parent has arrived.
    await waitFor(
      () => {
        const spans = inTrace();
        const ids = byId();
        const consumers = spans.filter((s) => s.kind === OtlpSpanKind.CONSUMER).map((s) => s.service);
        return (
          consumers.includes("shipping") &&
          consumers.includes("notification") &&
          spans.every((s) => s.parentSpanId === callerSpanId || ids.has(s.parentSpanId))
        );
      },
      { timeoutMs: 30_000, message: "the trace never became complete" },
    );
    const spans = inTrace();
    const ids = byId();
    expect(new Set(spans.map((s) => s.service))).toEqual(
      new Set(["gateway", "order", "catalog", "inventory", "payment", "shipping", "notification"]),
    );

    // The edge continues the caller's trace; the order service continues the edge's span.
    const edge = one(spans, "gateway", OtlpSpanKind.SERVER, "mercato.order.v1.OrderService/PlaceOrder");
    expect(edge.parentSpanId).toBe(callerSpanId);
    expect(spans.filter((s) => s.parentSpanId === callerSpanId)).toEqual([edge]);
    const served = one(spans, "order", OtlpSpanKind.SERVER, "mercato.order.v1.OrderService/PlaceOrder");
    expect(served.parentSpanId).toBe(edge.spanId);

    const ancestors = (span: CollectedSpan): CollectedSpan[] => {
      const chain: CollectedSpan[] = [];
      for (let at = ids.get(span.parentSpanId); at; at = ids.get(at.parentSpanId)) chain.push(at);
      return chain;
    };
    // Each upstream's server span is the child of the order service's client span for it, and the
    // saga's calls descend from PlaceOrder (their steps ran after the call returned).
    for (const [service, method] of [
      ["inventory", "mercato.inventory.v1.InventoryService/Reserve"],
      ["inventory", "mercato.inventory.v1.InventoryService/Commit"],
      ["payment", "mercato.payment.v1.PaymentService/Authorize"],
      ["payment", "mercato.payment.v1.PaymentService/Capture"],
    ] as const) {
      const server = one(spans, service, OtlpSpanKind.SERVER, method);
      const client = ids.get(server.parentSpanId);
      expect(client, method).toMatchObject({ service: "order", kind: OtlpSpanKind.CLIENT, name: method });
      expect(
        ancestors(client!).map((s) => s.spanId),
        method,
      ).toContain(served.spanId);
      expect(ancestors(client!).some((s) => s.name.startsWith("saga "))).toBe(true);
    }
    const pricing = spans.filter((s) => s.service === "catalog" && s.kind === OtlpSpanKind.SERVER);
    expect(pricing.length).toBeGreaterThan(0);
    for (const span of pricing) expect(ids.get(span.parentSpanId)?.service).toBe("order");

    // Events: the relay's publish span continues the transaction that wrote the event, and each
    // consumer's span is the child of the publish span.
    const confirmed = one(spans, "order", OtlpSpanKind.PRODUCER, "mercato.order.order_confirmed publish");
    expect(ids.get(confirmed.parentSpanId)?.name).toBe("db.transaction");
    for (const service of ["shipping", "notification"]) {
      const consumed = one(spans, service, OtlpSpanKind.CONSUMER, "mercato.order.order_confirmed process");
      expect(consumed.parentSpanId).toBe(confirmed.spanId);
    }
    const created = one(
      spans,
      "shipping",
      OtlpSpanKind.PRODUCER,
      "mercato.shipping.shipment_created publish",
    );
    const notified = one(
      spans,
      "notification",
      OtlpSpanKind.CONSUMER,
      "mercato.shipping.shipment_created process",
    );
    expect(notified.parentSpanId).toBe(created.spanId);
    expect(ancestors(created).map((s) => s.service)).toContain("shipping");

    // Database transactions are spans of the services that ran them.
    const transactions = new Set(spans.filter((s) => s.name === "db.transaction").map((s) => s.service));
    for (const service of ["order", "inventory", "payment", "shipping", "notification"]) {
      expect(transactions, service).toContain(service);
    }
  });

  it("exports spans from every process the system runs", () => {
    const exporting = new Set(collector.spans().map((s) => s.service));
    expect([...e2e.system.processes.keys()].filter((name) => !exporting.has(name))).toEqual([]);
  });

  it("carries no password, card token or bearer token in any span", () => {
    const secrets = [password, paymentToken, accessToken, admin.password];
    const spans = collector.spans();
    expect(spans.length).toBeGreaterThan(20);
    const leaks = spans.filter((s) =>
      [s.name, ...s.values].some((value) => secrets.some((secret) => value.includes(secret))),
    );
    expect(leaks.map((s) => `${s.service} ${s.name}`)).toEqual([]);
  });
});

describe("metrics", () => {
  let after: Map<string, Exposition>;
  const moved = (process: string, name: string, match: Record<string, string> = {}) =>
    total(after.get(process)!, name, match) - total(before.get(process)!, name, match);

  beforeAll(async () => {
    // Trip the edge's strict (login) limit: 20 a minute per client address.
    let limited = false;
    for (let i = 0; i < 40 && !limited; i++) {
      const response = await e2e.call(`${paths.identity}/Login`, {
        email: `nobody-${i}@example.com`,
        password: "wrong password",
      });
      limited = response.status === 429;
    }
    expect(limited).toBe(true);
    // Gauges (lag, backlog, unfinished sagas) are sampled every few seconds.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    after = await scrapeAll();
  });

  it("labels every series with its service and counts RED per RPC in every process", () => {
    for (const [name, exposition] of after) {
      expect(
        exposition.samples.filter((s) => s.labels.service !== name).map((s) => s.name),
        name,
      ).toEqual([]);
      expect(exposition.types.get("mercato_rpc_server_duration_seconds"), name).toBe("histogram");
      expect(moved(name, "mercato_rpc_server_duration_seconds_count"), name).toBeGreaterThan(0);
    }
    expect(
      moved("order", "mercato_rpc_server_duration_seconds_count", {
        method: "mercato.order.v1.OrderService/PlaceOrder",
        code: "OK",
      }),
    ).toBe(2);
    expect(
      moved("gateway", "mercato_rpc_server_duration_seconds_count", { code: "RESOURCE_EXHAUSTED" }),
    ).toBeGreaterThan(0);
  });

  it("counts calls to upstreams and reports their circuit breakers closed", () => {
    for (const upstream of ["catalog", "inventory", "payment"]) {
      expect(
        moved("order", "mercato_rpc_client_duration_seconds_count", { upstream }),
        upstream,
      ).toBeGreaterThan(0);
      expect(has(after.get("order")!, "mercato_circuit_breaker_state", { upstream }), upstream).toBe(true);
      expect(total(after.get("order")!, "mercato_circuit_breaker_state", { upstream }), upstream).toBe(0);
    }
  });

  it("counts saga outcomes by reason and reports unfinished sagas", () => {
    expect(moved("order", "mercato_saga_outcomes_total", { outcome: "completed", reason: "none" })).toBe(1);
    expect(
      moved("order", "mercato_saga_outcomes_total", { outcome: "compensated", reason: "payment_declined" }),
    ).toBe(1);
    expect(has(after.get("order")!, "mercato_sagas_unfinished", { saga: "place_order" })).toBe(true);
    expect(total(after.get("order")!, "mercato_sagas_unfinished")).toBe(0);
    expect(total(after.get("order")!, "mercato_saga_oldest_unfinished_age_seconds")).toBe(0);
  });

  it("reports the outbox: published events, backlog and the oldest unpublished age", () => {
    for (const process of ["order", "inventory", "payment", "shipping"]) {
      expect(moved(process, "mercato_outbox_published_total"), process).toBeGreaterThan(0);
      expect(has(after.get(process)!, "mercato_outbox_backlog"), process).toBe(true);
      expect(has(after.get(process)!, "mercato_outbox_oldest_age_seconds"), process).toBe(true);
    }
    expect(total(after.get("order")!, "mercato_outbox_backlog")).toBe(0);
    expect(total(after.get("order")!, "mercato_outbox_oldest_age_seconds")).toBe(0);
  });

  it("reports consumers: events processed, lag, redeliveries and dead letters", () => {
    for (const process of ["shipping", "notification"]) {
      const exposition = after.get(process)!;
      const consumers = [
        ...new Set(
          exposition.samples.filter((s) => s.name === "mercato_consumer_lag").map((s) => s.labels.consumer),
        ),
      ];
      expect(consumers.length, process).toBeGreaterThan(0);
      expect(
        moved(process, "mercato_events_consumed_total", { outcome: "processed" }),
        process,
      ).toBeGreaterThan(0);
      for (const consumer of consumers as string[]) {
        expect(has(exposition, "mercato_events_redelivered_total", { consumer }), consumer).toBe(true);
        expect(total(exposition, "mercato_events_dead_lettered_total", { consumer }), consumer).toBe(0);
      }
    }
  });

  it("counts the edge's rate-limit rejections", () => {
    expect(moved("gateway", "mercato_gateway_rate_limited_total", { class: "strict" })).toBeGreaterThan(0);
  });

  it("ships a dashboard and alert rules that use only metrics the services export", () => {
    const exported = new Set<string>();
    for (const exposition of after.values()) {
      for (const sample of exposition.samples) exported.add(sample.name);
      for (const family of exposition.types.keys()) exported.add(family);
    }
    const objects = render(profiles[0]!, ["--set", "monitoring.prometheusRule.enabled=true"]);
    const dashboards = find(objects, "ConfigMap", "mercato-dashboards")!;
    const expressions: string[] = [];
    for (const json of Object.values(dashboards.data as Record<string, string>)) {
      const dashboard = JSON.parse(json) as {
        panels: { type: string; title: string; targets?: { expr: string }[] }[];
      };
      for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        expressions.push(...(panel.targets ?? []).map((t) => t.expr));
      }
    }
    const rules = find(objects, "PrometheusRule", "mercato")!;
    for (const group of rules.spec.groups)
      expressions.push(...group.rules.map((r: { expr: string }) => r.expr));
    expect(expressions.length).toBeGreaterThan(20);
    for (const expression of expressions) {
      const names = metricNamesIn(expression);
      expect(names.length, expression).toBeGreaterThan(0);
      expect(
        names.filter((n) => !exported.has(n)),
        expression,
      ).toEqual([]);
    }
  });
});

describe("logs", () => {
  const parsed = (process: string) =>
    (output.get(process) ?? []).map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${process} wrote a line that is not JSON: ${line}`);
      }
    });

  it("writes every line as JSON with service, level and time", () => {
    for (const process of e2e.system.processes.keys()) {
      const lines = parsed(process);
      expect(lines.length, process).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line, process).toMatchObject({
          service: process,
          level: expect.any(String),
          time: expect.any(String),
        });
      }
    }
  });

  it("carries the edge's request id, with the trace and span ids, in every service the order touched", () => {
    for (const process of [
      "gateway",
      "order",
      "catalog",
      "inventory",
      "payment",
      "shipping",
      "notification",
    ]) {
      const lines = parsed(process).filter((line) => line.requestId === requestId);
      expect(lines.length, process).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line.traceId, `${process}: ${line.msg}`).toBe(traceId);
        expect(line.spanId, `${process}: ${line.msg}`).toMatch(/^[0-9a-f]{16}$/);
      }
    }
    const leaks = [...output.values()]
      .flat()
      .filter((line) => line.includes(password) || line.includes(accessToken));
    expect(leaks).toEqual([]);
  });
});
