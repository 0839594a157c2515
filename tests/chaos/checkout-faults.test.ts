/**
 * Whole-system fault test of checkout (issue 4, item 6).
 *
 * The whole system runs as real processes (startSystem through the e2e harness) on the run's
 * PostgreSQL with a nats-server of its own. Customers place a batch of orders through the edge while
 * a chaos loop kill -9's the order and payment services {@link KILLS_EACH} times each (each restarted
 * after a short random delay) and crashes and restarts nats-server once. Client calls that fail are
 * retried with the same idempotency key (the PlaceOrder contract), a bounded number of times; a client
 * that gives up comes back after the chaos with the same key, as a real one would.
 *
 * Everything is paced by work and recovery, not by the clock (see ./pacing.ts): a kill follows only
 * once the system has recovered from the last one (order answers through the edge again, payment has
 * authorized or captured again, the relay publishes again), the batch runs until it has
 * {@link MIN_ORDERS} orders and the chaos is over, and new orders wait while too many are unfinished.
 * On a slow day the test takes longer; it does not fail for it.
 *
 * After the chaos stops, within a settle budget derived from the slowest recovery seen:
 * - every order is terminal: CONFIRMED with its saga COMPLETED, or CANCELLED with its saga COMPENSATED
 *   (read through the edge as the owner: ListOrders to find every order, GetOrder for each);
 * - money: read from the payment service's own database `<prefix>_payment` with postgres.js (GetPayment
 *   is admin-only at the edge and answers one payment per order, so it could not show a second one):
 *   the sum captured (net of refunds) equals the sum of the confirmed orders' totals; each confirmed
 *   order has exactly one payment, CAPTURED for its total; a cancelled order has nothing captured or
 *   left authorized; no order has two payments; the provider's books agree with the payments;
 * - stock: for every SKU, GetStock's `available` (at the edge) + the units of the confirmed orders
 *   equals the starting stock, nothing stays reserved, and inventory's committed reservations (its
 *   database) hold exactly the confirmed orders' units;
 * - events: the MERCATO_ORDER stream holds exactly one OrderPlaced per order (read with a nats client,
 *   counted by the order id decoded from the payload, field 3);
 * - leases: no saga was driven by two drivers at once, judged from order's `saga_steps` log (see
 *   {@link leaseViolations} for the exact rules).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { protobufString, readStream, streamState, withDatabase } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, type EdgeResponse, startE2eSystem } from "../e2e/harness.js";
import { between, type Pacer, recoveredAt, settleBudgetMs, startPacer } from "./pacing.js";
import { retryableCodes, retryDelayMs } from "./retry.js";
import { leaseViolations, readStepLog, type StepRow } from "./saga-log.js";

const identity = "/mercato.identity.v1.IdentityService";
const catalog = "/mercato.catalog.v1.CatalogService";
const inventory = "/mercato.inventory.v1.InventoryService";
const orders = "/mercato.order.v1.OrderService";

/** Orders placed at least (the batch goes on until the chaos is over too). */
const MIN_ORDERS = 240;
/** Client concurrency, and the most new orders per second (all clients together: a cap, not a target). */
const CONCURRENCY = 8;
const ORDER_RATE = 3;
/** New orders wait while this many are unfinished (sagas not finished). */
const MAX_BACKLOG = 24;
/** kill -9 of each of order and payment, each after the system recovered from the previous one. */
const KILLS_EACH = 16;
/**
 * Orders placed between two kills of one target at least, so the kills are spread over most of the
 * batch (16 × 14 of its 240) whatever the machine's speed: on a slow day orders come slower, and so
 * do kills. (The old loop killed every 1.5–5 s until the batch had its orders: 16–17 kills each on a
 * quiet machine, and a system that was down most of the time on a slow one.)
 */
const ORDERS_PER_KILL = 14;
/** A kill that the system has not recovered from after this long fails the test (a generous cap). */
const RECOVERY_CAP_MS = 120_000;
/**
 * The batch and the chaos stop after this long whatever they reached, and the test then fails on its
 * counts: a cap for a hang, far above what a slow day needs (the counts, not this, set the length).
 */
const BATCH_LIMIT_MS = 10 * 60_000;
/** The order service's saga lease and longest retry backoff, set explicitly so the test knows them. */
const SAGA_LEASE_MS = 10_000;
const SAGA_RETRY_MAX_MS = 5_000;
/** Everything settles within this long after the chaos stops at least (see settleBudgetMs). */
const SETTLE_FLOOR_MS = 30_000;
/** PlaceOrder attempts per idempotency key before the client gives up. */
const PLACE_ATTEMPTS = 40;

interface ProductPlan {
  readonly sku: string;
  readonly name: string;
  readonly priceMinor: number;
  readonly stock: number;
  /** Relative chance of being an order's first line. */
  readonly weight: number;
}

/** Two plentiful SKUs and two scarce ones, so some orders must be cancelled for want of stock. */
const productPlans: readonly ProductPlan[] = [
  { sku: "CHAOS-BEANS", name: "Chaos beans", priceMinor: 1290, stock: 5000, weight: 45 },
  { sku: "CHAOS-FILTER", name: "Chaos filter papers", priceMinor: 450, stock: 5000, weight: 30 },
  { sku: "CHAOS-GRINDER", name: "Chaos grinder", priceMinor: 9900, stock: 14, weight: 15 },
  { sku: "CHAOS-KETTLE", name: "Chaos kettle", priceMinor: 3450, stock: 7, weight: 10 },
];

const address = {
  name: "Chaos Customer",
  line1: "1 Fault Lane",
  city: "Lisbon",
  postalCode: "1000-001",
  countryCode: "PT",
};

interface Customer {
  readonly id: string;
  readonly token: string;
}

interface Product extends ProductPlan {
  readonly id: string;
}

interface PlacedOrder {
  readonly orderId: string;
  readonly customer: Customer;
  readonly paymentToken: string;
  readonly attempts: number;
  /** Placed when its client came back after giving up during the chaos. */
  readonly cameBack?: boolean;
}

/** An order as the edge shows it (Connect JSON). */
interface EdgeOrder {
  readonly id: string;
  readonly userId: string;
  readonly status?: string;
  readonly lines?: readonly { sku: string; quantity: number }[];
  readonly total?: { currencyCode: string; amountMinor: string };
  readonly cancelReason?: string;
  readonly saga?: { step?: string; state?: string };
}

function pick<T>(items: readonly T[], weight: (item: T) => number): T {
  const total = items.reduce((sum, item) => sum + weight(item), 0);
  let roll = Math.random() * total;
  for (const item of items) {
    roll -= weight(item);
    if (roll < 0) return item;
  }
  return items.at(-1) as T;
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index] as T);
      }
    }),
  );
  return results;
}

let e2e: E2eSystem;
let adminToken: string;

async function ok(response: Promise<EdgeResponse>, what: string): Promise<EdgeResponse> {
  const answer = await response;
  if (answer.status !== 200) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

/** A read through the edge, retried while a service restarts. */
async function read(path: string, body: unknown, token?: string): Promise<EdgeResponse> {
  let last: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const response = await e2e.call(path, body, token);
      if (response.status === 200) return response;
      last = `${response.status} ${JSON.stringify(response.body)}`;
      if (!retryableCodes.has(response.body?.code)) break;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(`${path} failed: ${last instanceof Error ? last.message : String(last)}`);
}

async function setUp(): Promise<{ products: Product[]; customers: Customer[] }> {
  const category = await ok(e2e.call(`${catalog}/CreateCategory`, { name: "Chaos" }, adminToken), "category");
  const products: Product[] = [];
  for (const plan of productPlans) {
    const created = await ok(
      e2e.call(
        `${catalog}/CreateProduct`,
        {
          sku: plan.sku,
          name: plan.name,
          description: "Stock for the checkout fault test",
          price: { currencyCode: "EUR", amountMinor: String(plan.priceMinor) },
          categoryId: category.body.category.id,
        },
        adminToken,
      ),
      `create ${plan.sku}`,
    );
    await ok(e2e.call(`${inventory}/SetStock`, { sku: plan.sku, onHand: plan.stock }, adminToken), "stock");
    products.push({ ...plan, id: created.body.product.id as string });
  }
  const customers: Customer[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const email = `chaos-${i}-${randomUUID().slice(0, 8)}@example.com`;
    const registered = await ok(
      e2e.call(`${identity}/Register`, { email, password: "a long enough secret", name: `Chaos ${i}` }),
      "register",
    );
    customers.push({
      id: registered.body.user.id as string,
      token: await e2e.login(email, "a long enough secret"),
    });
  }
  return { products, customers };
}

function randomOrder(products: readonly Product[]) {
  const first = pick(products, (p) => p.weight);
  const chosen = [first];
  if (Math.random() < 0.35) {
    const second = pick(
      products.filter((p) => p !== first),
      (p) => p.weight,
    );
    chosen.push(second);
  }
  const roll = Math.random();
  const paymentToken = roll < 0.8 ? "tok_visa" : roll < 0.9 ? "tok_chargeDeclined" : "tok_unavailable";
  return {
    lines: chosen.map((p) => ({ productId: p.id, quantity: 1 + Math.floor(Math.random() * 3) })),
    paymentToken,
  };
}

interface PlaceStats {
  retries: number;
  /** Why attempts failed: "<http status> <code>: <message>" → count. */
  errors: Map<string, number>;
  lastError: string;
  maxAttempts: number;
  /** Keys given up on during the chaos, with the request to send again once it is over. */
  gaveUp: { key: string; customer: Customer; request: PlaceRequest; last: string }[];
  rejected: string[];
}

function newStats(): PlaceStats {
  return { retries: 0, errors: new Map(), lastError: "", maxAttempts: 0, gaveUp: [], rejected: [] };
}

/** A PlaceOrder request as a client keeps it: the body sent again with every retry (same key). */
interface PlaceRequest extends ReturnType<typeof randomOrder> {
  readonly idempotencyKey: string;
  readonly shippingAddress: typeof address;
}

/** A new PlaceOrder request with a fresh idempotency key. */
function newRequest(order: ReturnType<typeof randomOrder>): PlaceRequest {
  return { idempotencyKey: randomUUID(), ...order, shippingAddress: address };
}

/** PlaceOrder with one idempotency key, retried (bounded) while it fails transiently. */
async function placeOrder(
  customer: Customer,
  body: PlaceRequest,
  stats: PlaceStats,
): Promise<PlacedOrder | undefined> {
  const order = body;
  let last = "";
  for (let attempt = 1; attempt <= PLACE_ATTEMPTS; attempt++) {
    if (attempt > 1) stats.retries++;
    stats.maxAttempts = Math.max(stats.maxAttempts, attempt);
    try {
      const response = await e2e.call(`${orders}/PlaceOrder`, body, customer.token);
      if (response.status === 200) {
        return {
          orderId: response.body.order.id as string,
          customer,
          paymentToken: order.paymentToken,
          attempts: attempt,
        };
      }
      last = `${response.status} ${response.body?.code}: ${String(response.body?.message).slice(0, 100)}`;
      if (!retryableCodes.has(response.body?.code)) {
        stats.rejected.push(last);
        return undefined;
      }
    } catch (error) {
      last = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    const reason = last.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "…");
    stats.errors.set(reason, (stats.errors.get(reason) ?? 0) + 1);
    stats.lastError = reason;
    await sleep(retryDelayMs(attempt));
  }
  stats.gaveUp.push({ key: body.idempotencyKey, customer, request: body, last });
  return undefined;
}

type ChaosTarget = "order" | "payment";

/** One kill -9 (or the nats-server crash) and how the system came back from it. */
interface Kill {
  readonly target: ChaosTarget | "nats";
  /** When it was killed (ms since the epoch). */
  readonly at: number;
  /** From the kill until the process (or nats-server) was running and ready again. */
  readonly downMs: number;
  /** From the kill until the system did real work through it again; undefined: not within the cap. */
  readonly recoveryMs: number | undefined;
}

interface ChaosLog {
  kills: Kill[];
  /** Warnings and errors the killed processes logged (pino JSON, level ≥ 40), message → count. */
  logged: Map<string, number>;
  lastKillAt: number;
  restartFailures: string[];
}

/** Counts the warnings and errors in a process's pino output by message (ids blanked). */
function collectLogged(name: string, output: string, into: Map<string, number>): void {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as {
        level?: number;
        msg?: string;
        err?: { message?: string };
        error?: string;
      };
      if ((entry.level ?? 0) < 40) continue;
      const detail = entry.err?.message ?? entry.error ?? "";
      const key = `${name}: ${entry.msg} ${detail}`.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "…").slice(0, 200);
      into.set(key, (into.get(key) ?? 0) + 1);
    } catch {
      // not a log line
    }
  }
}

/** Restarts a killed process like a supervisor would: again until it comes up. */
async function restartUntilUp(name: ChaosTarget, log: ChaosLog): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await e2e.system.restart(name);
      return;
    } catch (error) {
      log.restartFailures.push(`${name} attempt ${attempt}: ${(error as Error).message.slice(0, 300)}`);
      if (attempt >= 5) throw error;
      await sleep(1000);
    }
  }
}

/**
 * The evidence that the system works through `target` again, after it was ready again at `readyAt`:
 * - order: the edge answers a customer's ListOrders (edge → order, past the gateway's circuit breaker);
 * - payment: payment wrote a payment (an authorization or a capture of some saga) after `readyAt`;
 * - nats: the order service's relay stored an event on its stream after `readyAt`.
 */
function evidenceOfWork(target: Kill["target"], readyAt: number, token: string): () => Promise<boolean> {
  switch (target) {
    case "order":
      return async () => (await e2e.call(`${orders}/ListOrders`, { pageSize: 1 }, token)).status === 200;
    case "payment":
      return () =>
        withDatabase(e2e.databaseUrl("payment"), async (sql) => {
          const [row] = await sql<{ last: string | null }[]>`
            select (extract(epoch from max(greatest(created_at, updated_at))) * 1000)::bigint::text as last
              from payments`;
          return Number(row?.last ?? 0) > readyAt;
        });
    case "nats":
      return async () => (await streamState(e2e.system.natsUrl, "MERCATO_ORDER")).lastAt > readyAt;
  }
}

/**
 * Kills and restarts `target` KILLS_EACH times. Each kill comes a random 1–4 s after the system showed
 * it recovered from the previous one ({@link evidenceOfWork}) and once ORDERS_PER_KILL more orders
 * were placed (`placed()` counts them), so kills never pile onto a system still restarting and stay
 * spread over the batch, whatever the machine's speed. A kill not recovered from within
 * RECOVERY_CAP_MS ends the loop (the test then fails on it).
 */
async function killLoop(
  target: ChaosTarget,
  log: ChaosLog,
  token: string,
  placed: () => number,
  stop: () => boolean,
): Promise<void> {
  let placedAtKill = placed();
  for (let i = 0; i < KILLS_EACH && !stop(); i++) {
    await sleep(between(1000, 4000));
    while (placed() - placedAtKill < ORDERS_PER_KILL && !stop()) await sleep(100);
    placedAtKill = placed();
    const victim = e2e.system.processes.get(target);
    if (!victim) throw new Error(`no ${target} process`);
    const at = Date.now();
    log.lastKillAt = Math.max(log.lastKillAt, at);
    await victim.process.kill("SIGKILL");
    collectLogged(`${target}`, victim.process.output(), log.logged);
    await sleep(between(200, 1500));
    await restartUntilUp(target, log);
    const readyAt = Date.now();
    const back = await recoveredAt(evidenceOfWork(target, readyAt, token), RECOVERY_CAP_MS);
    log.kills.push({
      target,
      at,
      downMs: readyAt - at,
      recoveryMs: back === undefined ? undefined : back - at,
    });
    if (back === undefined) return;
  }
}

/** Crashes and restarts nats-server once, after order has been killed `afterOrderKills` times. */
async function natsOutage(log: ChaosLog, afterOrderKills: number, stop: () => boolean): Promise<void> {
  const nats = e2e.system.nats;
  if (!nats) throw new Error("the system runs no nats-server of its own");
  while (log.kills.filter((k) => k.target === "order").length < afterOrderKills && !stop()) await sleep(250);
  const at = Date.now();
  log.lastKillAt = Math.max(log.lastKillAt, at);
  await nats.kill();
  await sleep(between(1500, 4000));
  await nats.restart();
  const readyAt = Date.now();
  const back = await recoveredAt(evidenceOfWork("nats", readyAt, ""), RECOVERY_CAP_MS);
  log.kills.push({
    target: "nats",
    at,
    downMs: readyAt - at,
    recoveryMs: back === undefined ? undefined : back - at,
  });
}

/** Every order of the customers, through the edge (ListOrders as each owner, paged). */
async function listAllOrders(customers: readonly Customer[]): Promise<Map<string, EdgeOrder>> {
  const all = new Map<string, EdgeOrder>();
  for (const customer of customers) {
    let pageToken = "";
    do {
      const page = await read(`${orders}/ListOrders`, { pageSize: 200, pageToken }, customer.token);
      for (const order of (page.body.orders ?? []) as EdgeOrder[]) all.set(order.id, order);
      pageToken = page.body.nextPageToken ?? "";
    } while (pageToken);
  }
  return all;
}

const isTerminal = (order: EdgeOrder) =>
  (order.status === "ORDER_STATUS_CONFIRMED" && order.saga?.state === "SAGA_STATE_COMPLETED") ||
  (order.status === "ORDER_STATUS_CANCELLED" && order.saga?.state === "SAGA_STATE_COMPENSATED");

describe("checkout under faults", () => {
  beforeAll(async () => {
    e2e = await startE2eSystem({
      name: "chaos",
      requestTimeoutMs: 15_000,
      serviceEnv: {
        order: { SAGA_LEASE_MS: String(SAGA_LEASE_MS), SAGA_RETRY_MAX_MS: String(SAGA_RETRY_MAX_MS) },
      },
    });
    adminToken = await e2e.login(admin.email, admin.password);
  }, 120_000);

  afterAll(async () => {
    await e2e?.stop();
  }, 60_000);

  it(
    "keeps every invariant while order, payment and nats-server are killed",
    async () => {
      const { products, customers } = await setUp();
      const productBySku = new Map(products.map((p) => [p.sku, p]));

      // ---- the batch and the chaos, side by side ----
      const chaos: ChaosLog = { kills: [], logged: new Map(), lastKillAt: 0, restartFailures: [] };
      const stats = newStats();
      const placed: PlacedOrder[] = [];
      let chaosDone = false;
      let started = 0;
      const batchStart = Date.now();
      const pacer: Pacer = startPacer({
        ratePerSecond: ORDER_RATE,
        maxBacklog: MAX_BACKLOG,
        unfinished: () =>
          withDatabase(e2e.databaseUrl("order"), async (sql) => {
            const [row] = await sql<
              { n: number }[]
            >`select count(*)::int as n from sagas where finished_at is null`;
            return row?.n ?? 0;
          }),
      });

      const overtime = () => Date.now() - batchStart > BATCH_LIMIT_MS;
      // Progress, with probes that tell a stuck edge→order path from a stuck order service: a read
      // of order through the edge, a catalog read through the edge, and order's own /readyz.
      const probe = async (what: () => Promise<number>) => {
        try {
          return String(await what());
        } catch (error) {
          return (error as Error).name;
        }
      };
      const progress = setInterval(async () => {
        const known = placed[0];
        const [getOrder, catalogRead, orderReady] = await Promise.all([
          known
            ? probe(
                async () =>
                  (await e2e.call(`${orders}/GetOrder`, { orderId: known.orderId }, known.customer.token))
                    .status,
              )
            : "-",
          probe(async () => (await e2e.call(`${catalog}/ListProducts`, { pageSize: 1 })).status),
          probe(async () => {
            const port = e2e.system.processes.get("order")?.adminPort;
            return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }))
              .status;
          }),
        ]);
        console.log(
          `[${((Date.now() - batchStart) / 1000).toFixed(0)} s] started ${started}, placed ${placed.length}, ` +
            `unfinished ${pacer.backlog()}, retries ${stats.retries}, gave up ${stats.gaveUp.length}, ` +
            `kills ${chaos.kills.length}; ` +
            `probes: edge GetOrder ${getOrder}, edge ListProducts ${catalogRead}, order /readyz ${orderReady}; ` +
            `last failure: ${stats.lastError.slice(0, 120)}`,
        );
      }, 15_000);
      const probeToken = (customers[0] as Customer).token;
      let orderKillsDone = false;
      const chaosRun = Promise.all([
        killLoop("order", chaos, probeToken, () => placed.length, overtime).finally(() => {
          orderKillsDone = true;
        }),
        killLoop("payment", chaos, probeToken, () => placed.length, overtime),
        natsOutage(
          chaos,
          Math.round(between(KILLS_EACH / 3, (2 * KILLS_EACH) / 3)),
          () => overtime() || orderKillsDone,
        ),
      ]).finally(() => {
        chaosDone = true;
      });

      const done = () => (chaosDone && started >= MIN_ORDERS) || overtime();
      const workers = Array.from({ length: CONCURRENCY }, async (_, worker) => {
        const customer = customers[worker] as Customer;
        while (!done()) {
          await pacer.next();
          if (done()) return;
          started++;
          const order = await placeOrder(customer, newRequest(randomOrder(products)), stats);
          if (order) placed.push(order);
        }
      });

      // The chaos goes on for its kills, the batch until it has its orders and the chaos is over.
      await chaosRun;
      const chaosEnd = Date.now();
      await Promise.all(workers);
      pacer.stop();
      // A client that gave up during the chaos comes back now with the same request and key, as a
      // real one would (a re-submitted checkout): the key makes it the order that may already exist,
      // so no order stays unknown to its customer.
      const comeBack: PlaceStats = { ...newStats(), errors: stats.errors };
      for (const { customer, request } of stats.gaveUp) {
        const order = await placeOrder(customer, request, comeBack);
        if (order) placed.push({ ...order, cameBack: true });
      }
      clearInterval(progress);
      const batchEnd = Date.now();
      // How long the system may take to settle follows how long it took to recover from each kill.
      const slowestRecoveryMs = Math.max(0, ...chaos.kills.map((k) => k.recoveryMs ?? RECOVERY_CAP_MS));
      const settleMs = settleBudgetMs({
        sagaLeaseMs: SAGA_LEASE_MS,
        sagaRetryMaxMs: SAGA_RETRY_MAX_MS,
        slowestRecoveryMs,
        floorMs: SETTLE_FLOOR_MS,
      });
      const recoveryDeadline = batchEnd + settleMs;

      // ---- every order terminal, and its OrderPlaced on the stream, within the recovery budget ----
      // Both are polled side by side from the moment the batch is over.
      let all = new Map<string, EdgeOrder>();
      let pending: EdgeOrder[] = [];
      let settledAt = 0;
      let eventsAt = 0;
      let placedEvents = new Map<string, number>();
      let badEvents: string[] = [];
      const readPlacedEvents = async () => {
        const messages = await readStream(e2e.system.natsUrl, "MERCATO_ORDER", {
          filterSubjects: ["mercato.order.order_placed"],
        });
        placedEvents = new Map();
        badEvents = [];
        for (const message of messages) {
          if (message.headers["Mercato-Event-Type"] !== "mercato.order.v1.OrderPlaced") {
            badEvents.push(`seq ${message.seq}: type ${message.headers["Mercato-Event-Type"]}`);
          }
          const orderId = protobufString(message.data, 3) ?? "";
          placedEvents.set(orderId, (placedEvents.get(orderId) ?? 0) + 1);
        }
      };
      await Promise.all([
        (async () => {
          for (;;) {
            all = await listAllOrders(customers);
            pending = [...all.values()].filter((order) => !isTerminal(order));
            if (pending.length === 0 || Date.now() > recoveryDeadline) break;
            await sleep(250);
          }
          settledAt = Date.now();
        })(),
        (async () => {
          for (;;) {
            await readPlacedEvents();
            if (placed.every((p) => placedEvents.has(p.orderId)) || Date.now() > recoveryDeadline) break;
            await sleep(250);
          }
          eventsAt = Date.now();
        })(),
      ]);
      // GetOrder for each, as its owner: the answer the customer would get.
      const ownerOf = new Map<string, Customer>();
      for (const customer of customers) {
        for (const order of all.values()) if (order.userId === customer.id) ownerOf.set(order.id, customer);
      }
      const finalOrders = await mapLimit([...all.keys()], CONCURRENCY, async (orderId) => {
        const response = await read(`${orders}/GetOrder`, { orderId }, ownerOf.get(orderId)?.token);
        return response.body.order as EdgeOrder;
      });
      const confirmed = finalOrders.filter((o) => o.status === "ORDER_STATUS_CONFIRMED");
      const cancelled = finalOrders.filter((o) => o.status === "ORDER_STATUS_CANCELLED");
      const reasons = new Map<string, number>();
      for (const order of cancelled) {
        const reason = (order.cancelReason ?? "").replace(/[0-9a-f-]{36}/g, "…").slice(0, 80);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }

      // ---- money, from the payment service's database ----
      const payments = await withDatabase(e2e.databaseUrl("payment"), async (sql) => ({
        rows: await sql<
          {
            id: string;
            order_id: string;
            status: string;
            authorize_key: string;
            capture_key: string | null;
            amount_minor: string;
            captured_minor: string;
            refunded_minor: string;
          }[]
        >`select id, order_id, status, authorize_key, capture_key, amount_minor::text,
                 captured_minor::text, refunded_minor::text from payments`,
        books: await sql<
          { idempotency_key: string; state: string; captured_minor: string; refunded_minor: string }[]
        >`select idempotency_key, state, captured_minor::text, refunded_minor::text
            from test_provider_authorizations`,
      }));

      // ---- stock: inventory's view at the edge and its committed reservations ----
      const stockAtEdge = new Map<string, { onHand: number; reserved: number; available: number }>();
      for (const product of products) {
        const stock = await read(`${inventory}/GetStock`, { sku: product.sku });
        stockAtEdge.set(product.sku, {
          onHand: stock.body.onHand ?? 0,
          reserved: stock.body.reserved ?? 0,
          available: stock.body.available ?? 0,
        });
      }
      const inventoryRows = await withDatabase(e2e.databaseUrl("inventory"), async (sql) => ({
        committed: await sql<{ sku: string; units: number }[]>`
          select l.sku, sum(l.quantity)::int as units from reservation_lines l
            join reservations r on r.id = l.reservation_id
           where r.status = 'committed' group by l.sku`,
        held: await sql<{ n: number }[]>`select count(*)::int as n from reservations where status = 'held'`,
        adjustments: await sql<{ n: number }[]>`
          select count(*)::int as n from stock_movements where kind = 'adjust'`,
      }));

      // The final count, taken after everything else was read (a late duplicate would show here).
      await readPlacedEvents();

      // ---- leases, from order's saga log ----
      const { steps, sagas } = await withDatabase(e2e.databaseUrl("order"), async (sql) => ({
        steps: await readStepLog(sql),
        sagas: await sql<
          { saga_id: string; order_id: string; created_ms: string; finished_ms: string | null }[]
        >`
          select saga_id, order_id,
                 (extract(epoch from created_at) * 1000)::bigint::text as created_ms,
                 (extract(epoch from finished_at) * 1000)::bigint::text as finished_ms
            from sagas`,
      }));
      const sagaCount = sagas.length;
      const drivers = new Set(steps.map((s) => s.driverId));
      // Where the time went: the slowest sagas, step by step.
      const rel = (ms: number) => `${((ms - chaosEnd) / 1000).toFixed(1)}s`;
      const unfinished = Number.MAX_SAFE_INTEGER;
      const duration = (x: (typeof sagas)[number]) =>
        Number(x.finished_ms ?? unfinished) - Number(x.created_ms);
      const lastSagas = [...sagas].sort((a, b) => duration(b) - duration(a)).slice(0, 2);
      const timeline = [
        `chaos timeline (relative to the chaos end; last kill at ${rel(chaos.lastKillAt)}): ` +
          chaos.kills
            .sort((a, b) => a.at - b.at)
            .map((k) => `${k.target}@${rel(k.at)}+${(k.downMs / 1000).toFixed(1)}s`)
            .join(" "),
        `sagas finished after the chaos stopped: ${sagas.filter((x) => Number(x.finished_ms ?? Number.MAX_SAFE_INTEGER) > chaosEnd).length}`,
      ];
      for (const saga of lastSagas) {
        timeline.push(
          `  saga ${saga.saga_id} (order ${saga.order_id}) placed ${rel(Number(saga.created_ms))}, finished ` +
            `${saga.finished_ms ? rel(Number(saga.finished_ms)) : "never"}:`,
        );
        for (const row of steps.filter((x) => x.sagaId === saga.saga_id).sort((a, b) => a.id - b.id)) {
          timeline.push(
            `    ${rel(row.atUs / 1000)} step ${row.step} ${row.state} #${row.attempt} ${row.driverId.split(":").slice(1).join(":")}` +
              `${row.detail ? ` ${row.detail.slice(0, 90)}` : ""}`,
          );
        }
      }
      console.log(timeline.join("\n"));

      // ---- figures ----
      const kills = (target: string) => chaos.kills.filter((k) => k.target === target).length;
      const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      console.log(
        [
          "checkout under faults:",
          `  orders placed ${placed.length} (accepted ${all.size} at the edge) in ${seconds(batchEnd - batchStart)}: ` +
            `${(placed.length / ((batchEnd - batchStart) / 1000)).toFixed(2)} orders/s placed (at most ${ORDER_RATE}/s ` +
            `and ${MAX_BACKLOG} unfinished, ${CONCURRENCY} clients); all settled ${seconds(settledAt - batchStart)} after the start: ` +
            `${(all.size / ((settledAt - batchStart) / 1000)).toFixed(2)} orders/s end to end`,
          `  confirmed ${confirmed.length}, cancelled ${cancelled.length}, not terminal ${pending.length}`,
          `  cancel reasons: ${JSON.stringify(Object.fromEntries(reasons))}`,
          `  PlaceOrder retries ${stats.retries} (most attempts for one key ${stats.maxAttempts}), ` +
            `gave up ${stats.gaveUp.length} (came back and placed ${placed.filter((p) => p.cameBack).length}), ` +
            `rejected ${stats.rejected.length}`,
          `  kills: order ${kills("order")}, payment ${kills("payment")}, nats ${kills("nats")}; ` +
            `restart failures ${chaos.restartFailures.length}`,
          ...(["order", "payment", "nats"] as const).map((target) => {
            const list = chaos.kills.filter((k) => k.target === target);
            const mean = (ms: (k: Kill) => number) =>
              seconds(list.reduce((sum, k) => sum + ms(k), 0) / Math.max(1, list.length));
            const recovery = (k: Kill) => k.recoveryMs ?? RECOVERY_CAP_MS;
            return (
              `  ${target}: down (kill → ready) mean ${mean((k) => k.downMs)}, max ${seconds(Math.max(0, ...list.map((k) => k.downMs)))}; ` +
              `recovered (kill → work done again) mean ${mean(recovery)}, max ${seconds(Math.max(0, ...list.map(recovery)))}`
            );
          }),
          `  settle budget ${seconds(settleMs)} (lease ${seconds(SAGA_LEASE_MS)} + retry ${seconds(SAGA_RETRY_MAX_MS)} + ` +
            `3 × slowest recovery ${seconds(slowestRecoveryMs)}, at least ${seconds(SETTLE_FLOOR_MS)})`,
          `  recovery: all orders terminal ${seconds(settledAt - chaos.lastKillAt)} after the last kill, ` +
            `${seconds(settledAt - chaosEnd)} after the chaos stopped, ${seconds(settledAt - batchEnd)} after ` +
            `the last order was placed; every OrderPlaced on the stream ${seconds(eventsAt - chaos.lastKillAt)} ` +
            `after the last kill`,
          `  saga log: ${steps.length} rows, ${sagaCount} sagas, ${drivers.size} drivers; ` +
            `payments ${payments.rows.length}; inventory adjustments ${inventoryRows.adjustments[0]?.n ?? 0}`,
        ].join("\n"),
      );
      console.log(
        `PlaceOrder failures by reason:\n${[...stats.errors]
          .sort((a, b) => b[1] - a[1])
          .map(([reason, count]) => `  ${count} × ${reason}`)
          .join("\n")}`,
      );
      for (const name of ["order", "payment", "gateway"]) {
        collectLogged(name, e2e.system.processes.get(name)?.process.output() ?? "", chaos.logged);
      }
      console.log(
        `warnings and errors logged (by message):\n${[...chaos.logged]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 25)
          .map(([message, count]) => `  ${count} × ${message}`)
          .join("\n")}`,
      );
      if (chaos.restartFailures.length > 0)
        console.log(`restart failures:\n${chaos.restartFailures.join("\n")}`);

      // ---- the invariants (soft: every one that fails is reported, not only the first) ----
      // Every kill done, and recovered from: the chaos is a count, paced by recovery (the cap on a
      // recovery is generous; the figures above show the actual times).
      expect.soft(kills("order")).toBe(KILLS_EACH);
      expect.soft(kills("payment")).toBe(KILLS_EACH);
      expect.soft(kills("nats")).toBe(1);
      expect
        .soft(
          chaos.kills
            .filter((k) => k.recoveryMs === undefined)
            .map((k) => `${k.target} killed at ${rel(k.at)}`),
          `kills not recovered from within ${seconds(RECOVERY_CAP_MS)}`,
        )
        .toEqual([]);
      expect.soft(placed.length).toBeGreaterThanOrEqual(MIN_ORDERS);
      // Every PlaceOrder eventually answered (bounded retries with the same key), and no request was
      // refused. A client that gave up during the chaos came back with its key afterwards: that must
      // have answered (and its order is then among the placed ones below), so no order stays unknown.
      expect.soft(stats.rejected).toEqual([]);
      expect
        .soft([...comeBack.gaveUp, ...comeBack.rejected.map((last) => ({ last }))].map((g) => g.last))
        .toEqual([]);
      // Same key → same order: every order the clients were given is there, and there are no others.
      expect.soft(new Set(placed.map((p) => p.orderId)).size).toBe(placed.length);
      expect.soft([...all.keys()].sort()).toEqual(placed.map((p) => p.orderId).sort());
      expect.soft(sagaCount).toBe(all.size);

      // Every order terminal within the budget.
      expect
        .soft(
          pending.map((o) => `${o.id} ${o.status} ${o.saga?.step} ${o.saga?.state}`),
          `orders not terminal ${seconds(settleMs)} after the chaos and the batch stopped`,
        )
        .toEqual([]);
      expect.soft(finalOrders.filter((o) => !isTerminal(o)).map((o) => o.id)).toEqual([]);
      expect.soft(confirmed.length).toBeGreaterThan(0);
      expect.soft(cancelled.length).toBeGreaterThan(0);
      // Declined cards never confirm.
      const tokenOf = new Map(placed.map((p) => [p.orderId, p.paymentToken]));
      expect
        .soft(confirmed.filter((o) => tokenOf.get(o.id) === "tok_chargeDeclined").map((o) => o.id))
        .toEqual([]);

      // Money.
      const totalOf = (o: EdgeOrder) => BigInt(o.total?.amountMinor ?? "0");
      const confirmedTotal = confirmed.reduce((sum, o) => sum + totalOf(o), 0n);
      const captured = payments.rows.reduce((sum, p) => sum + BigInt(p.captured_minor), 0n);
      const refunded = payments.rows.reduce((sum, p) => sum + BigInt(p.refunded_minor), 0n);
      console.log(
        `  money: confirmed totals ${confirmedTotal}, captured ${captured}, refunded ${refunded} (EUR minor units)`,
      );
      expect
        .soft(captured - refunded, "sum captured (net of refunds) = sum of confirmed totals")
        .toBe(confirmedTotal);
      const paymentsByOrder = new Map<string, (typeof payments.rows)[number][]>();
      for (const payment of payments.rows) {
        paymentsByOrder.set(payment.order_id, [...(paymentsByOrder.get(payment.order_id) ?? []), payment]);
      }
      const moneyProblems: string[] = [];
      for (const [orderId, list] of paymentsByOrder) {
        if (!all.has(orderId)) moneyProblems.push(`payment for unknown order ${orderId}`);
        if (list.length > 1) moneyProblems.push(`order ${orderId} has ${list.length} payments`);
      }
      for (const order of confirmed) {
        const list = paymentsByOrder.get(order.id) ?? [];
        const payment = list[0];
        if (
          list.length !== 1 ||
          payment?.status !== "CAPTURED" ||
          BigInt(payment.captured_minor) !== totalOf(order) ||
          BigInt(payment.amount_minor) !== totalOf(order)
        ) {
          moneyProblems.push(
            `confirmed order ${order.id} (total ${totalOf(order)}): ${JSON.stringify(list)}`,
          );
        }
      }
      for (const order of cancelled) {
        for (const payment of paymentsByOrder.get(order.id) ?? []) {
          const net = BigInt(payment.captured_minor) - BigInt(payment.refunded_minor);
          if (net !== 0n || !["VOIDED", "FAILED", "REFUNDED"].includes(payment.status)) {
            moneyProblems.push(`cancelled order ${order.id} left money: ${JSON.stringify(payment)}`);
          }
        }
      }
      const captureKeys = payments.rows.map((p) => p.capture_key).filter((k) => k !== null);
      if (new Set(captureKeys).size !== captureKeys.length)
        moneyProblems.push("a capture key was used twice");
      // The provider's books agree with the payments: nothing charged there that payment does not show.
      const bookOf = new Map(payments.books.map((b) => [b.idempotency_key, b]));
      for (const payment of payments.rows) {
        const book = bookOf.get(payment.authorize_key);
        if (book && book.captured_minor !== payment.captured_minor) {
          moneyProblems.push(
            `provider captured ${book.captured_minor} for payment ${payment.id} (${payment.captured_minor})`,
          );
        }
        if (!book && BigInt(payment.captured_minor) > 0n)
          moneyProblems.push(`payment ${payment.id} without provider books`);
      }
      const known = new Set(payments.rows.map((p) => p.authorize_key));
      for (const book of payments.books) {
        if (!known.has(book.idempotency_key) && (book.state === "captured" || book.state === "authorized")) {
          moneyProblems.push(
            `provider holds ${book.state} money for ${book.idempotency_key} with no payment`,
          );
        }
      }
      const heldMoney = payments.rows.filter((p) => p.status === "AUTHORIZED" || p.status === "PENDING");
      for (const payment of heldMoney) moneyProblems.push(`payment ${payment.id} left ${payment.status}`);
      expect.soft(moneyProblems, "money invariants").toEqual([]);

      // Stock.
      const confirmedUnits = new Map<string, number>();
      for (const order of confirmed) {
        for (const line of order.lines ?? []) {
          confirmedUnits.set(line.sku, (confirmedUnits.get(line.sku) ?? 0) + line.quantity);
        }
      }
      const committedInInventory = new Map(inventoryRows.committed.map((r) => [r.sku, r.units]));
      const stockProblems: string[] = [];
      for (const [sku, level] of stockAtEdge) {
        const start = productBySku.get(sku)?.stock ?? 0;
        const units = confirmedUnits.get(sku) ?? 0;
        console.log(
          `  ${sku}: start ${start}, on hand ${level.onHand}, reserved ${level.reserved}, available ` +
            `${level.available}, confirmed units ${units}, committed in inventory ${committedInInventory.get(sku) ?? 0}`,
        );
        if (level.available + units !== start)
          stockProblems.push(`${sku}: available ${level.available} + confirmed ${units} ≠ ${start}`);
        if (level.reserved !== 0) stockProblems.push(`${sku}: ${level.reserved} still reserved`);
        if (level.onHand !== start - units)
          stockProblems.push(`${sku}: on hand ${level.onHand} ≠ ${start} − ${units}`);
        if ((committedInInventory.get(sku) ?? 0) !== units) {
          stockProblems.push(
            `${sku}: inventory committed ${committedInInventory.get(sku) ?? 0} ≠ confirmed ${units}`,
          );
        }
      }
      if ((inventoryRows.held[0]?.n ?? 0) !== 0)
        stockProblems.push(`${inventoryRows.held[0]?.n} reservations still held`);
      expect.soft(stockProblems, "stock invariants").toEqual([]);

      // Events: exactly one OrderPlaced per order, none for anything else.
      expect.soft(badEvents).toEqual([]);
      const eventProblems: string[] = [];
      for (const orderId of all.keys()) {
        const count = placedEvents.get(orderId) ?? 0;
        if (count !== 1) eventProblems.push(`order ${orderId}: ${count} OrderPlaced events`);
      }
      for (const orderId of placedEvents.keys()) {
        if (!all.has(orderId)) eventProblems.push(`OrderPlaced for unknown order ${orderId}`);
      }
      expect.soft(eventProblems, "OrderPlaced events").toEqual([]);

      // Leases: no saga driven by two drivers at once.
      expect.soft(drivers.size).toBeGreaterThan(1);
      expect.soft(leaseViolations(steps, SAGA_LEASE_MS), "saga lease violations").toEqual([]);
    },
    // The batch's cap and the settle budget's ceiling, with room: a hang still ends.
    18 * 60_000,
  );
});

describe("the saga lease check", () => {
  const sec = 1_000_000;
  const row = (
    id: number,
    driverId: string,
    step: number,
    state: string,
    atS: number,
    attempt = 1,
  ): StepRow => ({
    sagaId: "s",
    id,
    step,
    state,
    attempt,
    driverId,
    atUs: atS * sec,
  });

  it("accepts one driver, and a takeover after the lease or after a released lease", () => {
    expect(
      leaseViolations(
        [
          row(1, "a", 1, "started", 0),
          row(2, "a", 1, "succeeded", 0.1),
          row(3, "a", 2, "started", 0.2),
          // a dies holding the lease; b claims it once it has expired
          row(4, "b", 2, "started", 10.3),
          row(5, "b", 2, "retry", 10.4),
          // b released it for a backoff and died; c may take it at once
          row(6, "c", 2, "started", 10.9, 2),
          row(7, "c", 2, "succeeded", 11, 2),
        ],
        10_000,
      ),
    ).toEqual([]);
  });

  it("flags an early takeover, a comeback, an interrupted step and work after the end", () => {
    const violations = leaseViolations(
      [
        row(1, "a", 1, "started", 0),
        row(2, "b", 1, "started", 2),
        row(3, "a", 1, "succeeded", 2.1),
        row(4, "a", 5, "started", 3),
        row(5, "a", 5, "succeeded", 3.1),
        row(6, "a", 6, "started", 3.2),
      ],
      10_000,
    );
    expect(violations.some((v) => v.includes("took over 2000.0 ms"))).toBe(true);
    expect(violations.some((v) => v.includes("driver a wrote again"))).toBe(true);
    expect(violations.some((v) => v.includes("started by a is followed by started of step 1 by b"))).toBe(
      true,
    );
    expect(violations.some((v) => v.includes("after the saga finished"))).toBe(true);
  });
});
