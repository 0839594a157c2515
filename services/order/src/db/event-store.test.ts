import { create } from "@bufbuild/protobuf";
import { connectDatabase, type Database, migrate } from "@mercato/platform/db";
import { Code, ServiceError } from "@mercato/platform/errors";
import { eventsMigrations } from "@mercato/platform/events";
import { createLogger } from "@mercato/platform/log";
import { AddressSchema } from "@mercato/sdk/gen/mercato/common/v1/address_pb";
import { OrderShippedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { testDatabaseUrl } from "@mercato/testing";
import { asc, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decideCancel,
  decideConfirm,
  decideDeliver,
  decidePlace,
  decideShip,
  type OrderEvent,
  type OrderState,
} from "../domain/order.js";
import { migrationsFolder } from "../server.js";
import { appendEvents, executeCommand, loadEvents, loadOrder } from "./event-store.js";
import { readStatistics, rebuildProjections } from "./projections.js";
import * as schema from "./schema.js";

const logger = createLogger({ service: "order-test", level: "silent" });
let database: Database<typeof schema>;

beforeAll(async () => {
  database = await connectDatabase({ url: await testDatabaseUrl("order_store"), schema, logger });
  await migrate(database, [eventsMigrations, migrationsFolder]);
});
afterAll(async () => {
  await database?.close();
});

const address = create(AddressSchema, { name: "A", line1: "B", city: "C", countryCode: "DE" });
const meta = () => ({ eventId: uuidv7(), now: new Date() });

async function placeOrder(userId = uuidv7(), price = 1000n, quantity = 2): Promise<OrderState> {
  const event = decidePlace({
    orderId: uuidv7(),
    eventId: uuidv7(),
    userId,
    idempotencyKey: uuidv7(),
    lines: [
      { productId: uuidv7(), sku: "SKU-A", name: "A", quantity, unitPriceMinor: price, currencyCode: "EUR" },
    ],
    shippingAddress: address,
    now: new Date(),
  });
  return database.transaction((tx) => appendEvents(tx, undefined, [event]));
}

function shipped(state: OrderState, shipmentId: string): OrderEvent {
  return {
    kind: "shipped",
    data: create(OrderShippedSchema, {
      eventId: uuidv7(),
      orderId: state.id,
      version: BigInt(state.version + 1),
      userId: state.userId,
      shipmentId,
      trackingNumber: shipmentId,
    }),
  };
}

describe("event store", () => {
  it("lets only one of two concurrent appends of the same version commit (ABORTED, no lost update)", async () => {
    const state = await placeOrder();
    const results = await Promise.allSettled(
      ["s1", "s2"].map((shipment) =>
        database.transaction(async (tx) => {
          await tx.execute(sql`select pg_sleep(0.05)`);
          return appendEvents(tx, state, [shipped(state, shipment)]);
        }),
      ),
    );
    const fulfilled = results.filter((r) => r.status === "fulfilled");
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(ServiceError);
    expect((rejected[0]?.reason as ServiceError | undefined)?.code).toBe(Code.ABORTED);
    const events = await loadEvents(database.db, state.id);
    expect(events.map((e) => Number(e.data.version))).toEqual([1, 2]);
    // The loser left nothing behind: no outbox row for its event.
    const outbox = await database.query<{ count: number }>(
      sql`select count(*)::int as count from outbox where aggregate_id = ${state.id}`,
    );
    expect(outbox[0]?.count).toBe(2);
  });

  it("retries a command that lost the race, so both concurrent changes end up in the history", async () => {
    const state = await placeOrder();
    let decides = 0;
    let arrived = 0;
    let release!: () => void;
    const barrier = new Promise<void>((resolve) => {
      release = resolve;
    });
    const command = (shipmentId: string) =>
      executeCommand(database, state.id, async (current) => {
        decides++;
        if (current.version === 1) {
          // Both commands read version 1 before either appends.
          arrived++;
          if (arrived === 2) release();
          await barrier;
        }
        return [shipped(current, shipmentId)];
      });
    const [a, b] = await Promise.all([command("s1"), command("s2")]);
    expect(decides).toBe(3);
    const versions = [a.state.version, b.state.version].sort();
    expect(versions).toEqual([2, 3]);
    const events = await loadEvents(database.db, state.id);
    expect(events.map((e) => (e.kind === "shipped" ? e.data.shipmentId : e.kind)).sort()).toEqual([
      "placed",
      "s1",
      "s2",
    ]);
  });

  it("rebuilds the projections from the events exactly as they were projected live", async () => {
    const users = [uuidv7(), uuidv7()];
    for (let i = 0; i < 12; i++) {
      const userId = users[i % 2] as string;
      let state = await placeOrder(userId, BigInt(100 + i), 1 + (i % 3));
      const step = async (decide: (s: OrderState) => OrderEvent[]) => {
        state = (await executeCommand(database, state.id, decide)).state;
      };
      if (i % 4 === 1) await step((s) => decideCancel(s, "declined", meta()));
      if (i % 4 >= 2) await step((s) => decideConfirm(s, `pay-${i}`, meta()));
      if (i % 4 === 3) await step((s) => decideShip(s, { shipmentId: `s${i}`, trackingNumber: "T" }, meta()));
      if (i === 3) await step((s) => decideDeliver(s, "s3", meta()));
      if (i === 2) await step((s) => decideCancel(s, "customer", meta()));
    }
    const snapshot = async () => {
      const views = await database.db
        .select()
        .from(schema.orderViews)
        .orderBy(asc(schema.orderViews.orderId));
      const stats = await readStatistics(database.db);
      return { views, counters: Object.fromEntries(stats.counters), updatedAt: stats.updatedAt };
    };
    const live = await snapshot();
    expect(live.views.length).toBeGreaterThanOrEqual(12);
    await rebuildProjections(database);
    const rebuilt = await snapshot();
    expect(rebuilt).toEqual(live);
    // And the figures make sense on their own.
    const confirmed = live.views.filter((v) => v.status === OrderStatus.CONFIRMED).length;
    expect(live.counters["status:CONFIRMED"] ?? 0n).toBe(BigInt(confirmed));
    const state = await loadOrder(database.db, live.views[0]!.orderId);
    expect(state?.version).toBe(live.views[0]?.version);
  });
});
