import { fromBinary } from "@bufbuild/protobuf";
import { Code, ServiceError } from "@mercato/platform/errors";
import {
  StockLowSchema,
  StockReleasedSchema,
  StockReservedSchema,
} from "@mercato/sdk/gen/mercato/inventory/v1/events_pb";
import { ReservationStatus } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import { waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, as, startInventory, streamMessages, type TestInventory } from "../test/helpers.js";
import { STOCK_LOW_SUBJECT, STOCK_RELEASED_SUBJECT, STOCK_RESERVED_SUBJECT } from "./events/publish.js";
import { sweepExpired } from "./operations.js";
import { inventoryStream } from "./server.js";

let inventory: TestInventory;
beforeAll(async () => {
  inventory = await startInventory({ RESERVATION_SWEEP_INTERVAL_MS: "100", STOCK_LOW_THRESHOLD: "5" });
});
afterAll(async () => {
  await inventory?.stop();
});

const customer = as("0190aaaa-0000-7000-8000-00000000c001", "customer");
let skuCounter = 0;
const newSku = () => `SKU-${Date.now().toString(36).toUpperCase()}-${++skuCounter}`;

async function failure(promise: Promise<unknown>, code: Code): Promise<ServiceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${Code[code]}`).toBeInstanceOf(ServiceError);
  expect(Code[(error as ServiceError).code], (error as Error).message).toBe(Code[code]);
  return error as ServiceError;
}

async function stocked(onHand: number): Promise<string> {
  const sku = newSku();
  await inventory.client.setStock({ sku, onHand }, admin);
  return sku;
}

async function levels(sku: string) {
  const { onHand, reserved, available } = await inventory.client.getStock({ sku });
  return { onHand, reserved, available };
}

async function counts() {
  const [row] = await inventory.service.database.query<{
    reservations: number;
    outbox: number;
    stock: number;
  }>(
    sql`select (select count(*)::int from reservations) as reservations,
               (select count(*)::int from outbox) as outbox,
               (select count(*)::int from stock) as stock`,
  );
  return row;
}

describe("stock levels", () => {
  it("sets, adjusts and reads stock, never below zero or below the reserved units", async () => {
    const sku = newSku();
    expect(await levels(sku)).toEqual({ onHand: 0, reserved: 0, available: 0 });
    expect(await inventory.client.setStock({ sku, onHand: 10 }, admin)).toMatchObject({
      sku,
      onHand: 10,
      reserved: 0,
      available: 10,
    });
    expect(await inventory.client.adjustStock({ sku, delta: 5, reason: "delivery" }, admin)).toMatchObject({
      onHand: 15,
      available: 15,
    });
    await failure(
      inventory.client.adjustStock({ sku, delta: -16, reason: "damaged" }, admin),
      Code.FAILED_PRECONDITION,
    );

    await inventory.client.reserve({ reservationId: uuidv7(), lines: [{ sku, quantity: 12 }] });
    expect(await levels(sku)).toEqual({ onHand: 15, reserved: 12, available: 3 });
    await failure(inventory.client.setStock({ sku, onHand: 11 }, admin), Code.FAILED_PRECONDITION);
    await failure(
      inventory.client.adjustStock({ sku, delta: -4, reason: "damaged" }, admin),
      Code.FAILED_PRECONDITION,
    );
    expect(await inventory.client.adjustStock({ sku, delta: -3, reason: "damaged" }, admin)).toMatchObject({
      onHand: 12,
      reserved: 12,
      available: 0,
    });
    expect(await levels(sku)).toEqual({ onHand: 12, reserved: 12, available: 0 });

    // Removing stock from a SKU never stocked.
    await failure(
      inventory.client.adjustStock({ sku: newSku(), delta: -1 }, admin),
      Code.FAILED_PRECONDITION,
    );
    // Adding creates it.
    const fresh = newSku();
    expect(
      await inventory.client.adjustStock({ sku: fresh, delta: 7, reason: "delivery" }, admin),
    ).toMatchObject({
      onHand: 7,
    });

    const [movements] = await inventory.service.database.query<{ n: number }>(
      sql`select count(*)::int as n from stock_movements where sku = ${sku}`,
    );
    expect(movements?.n).toBe(3);
  });

  it("validates input and refuses non-admins, writing nothing", async () => {
    const before = await counts();
    const bad = await failure(
      inventory.client.setStock({ sku: "bad sku", onHand: 1 }, admin),
      Code.INVALID_ARGUMENT,
    );
    expect(bad.violations.map((v) => v.field)).toEqual(["sku"]);
    const negative = await failure(
      inventory.client.setStock({ sku: newSku(), onHand: -1 }, admin),
      Code.INVALID_ARGUMENT,
    );
    expect(negative.violations.map((v) => v.field)).toEqual(["on_hand"]);
    const zero = await failure(
      inventory.client.adjustStock({ sku: newSku(), delta: 0 }, admin),
      Code.INVALID_ARGUMENT,
    );
    expect(zero.violations.map((v) => v.field)).toEqual(["delta"]);
    await failure(inventory.client.getStock({ sku: "" }), Code.INVALID_ARGUMENT);
    await failure(inventory.client.setStock({ sku: newSku(), onHand: 5 }, customer), Code.PERMISSION_DENIED);
    await failure(inventory.client.setStock({ sku: newSku(), onHand: 5 }), Code.PERMISSION_DENIED);
    await failure(
      inventory.client.adjustStock({ sku: newSku(), delta: 5 }, customer),
      Code.PERMISSION_DENIED,
    );

    const sku = await stocked(5);
    const mid = await counts();
    const cases: [Parameters<TestInventory["client"]["reserve"]>[0], string][] = [
      [{ reservationId: "", lines: [{ sku, quantity: 1 }] }, "reservation_id"],
      [{ reservationId: "has space", lines: [{ sku, quantity: 1 }] }, "reservation_id"],
      [{ reservationId: uuidv7(), lines: [] }, "lines"],
      [{ reservationId: uuidv7(), lines: [{ sku, quantity: 0 }] }, "lines[0].quantity"],
      [
        {
          reservationId: uuidv7(),
          lines: [
            { sku, quantity: 1 },
            { sku, quantity: 1 },
          ],
        },
        "lines[1].sku",
      ],
      [{ reservationId: uuidv7(), lines: [{ sku: "x", quantity: 1 }] }, "lines[0].sku"],
      [{ reservationId: uuidv7(), lines: [{ sku, quantity: 1 }], ttlSeconds: -1 }, "ttl_seconds"],
      [{ reservationId: uuidv7(), lines: [{ sku, quantity: 1 }], ttlSeconds: 10_000_000 }, "ttl_seconds"],
    ];
    for (const [request, field] of cases) {
      const error = await failure(inventory.client.reserve(request), Code.INVALID_ARGUMENT);
      expect(error.violations.map((v) => v.field)).toContain(field);
    }
    expect(await counts()).toEqual(mid);
    expect(mid?.stock).toBe((before?.stock ?? 0) + 1);
    expect(await levels(sku)).toEqual({ onHand: 5, reserved: 0, available: 5 });
  });
});

describe("reservations", () => {
  it("reserve, commit and release are idempotent by reservation id", async () => {
    const a = await stocked(10);
    const b = await stocked(3);
    const id = uuidv7();
    const first = await inventory.client.reserve({
      reservationId: id,
      orderId: "order-1",
      lines: [
        { sku: a, quantity: 2 },
        { sku: b, quantity: 1 },
      ],
      ttlSeconds: 600,
    });
    expect(first.reservation?.status).toBe(ReservationStatus.HELD);
    expect(first.reservation?.lines.map((l) => [l.sku, l.quantity])).toEqual(
      [
        [a, 2],
        [b, 1],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    const expires =
      Number(first.reservation?.expiresAt?.seconds) - Number(first.reservation?.createdAt?.seconds);
    expect(expires).toBeGreaterThanOrEqual(599);
    expect(expires).toBeLessThanOrEqual(601);

    // Same call again (lines in another order): the same reservation, nothing reserved twice.
    const again = await inventory.client.reserve({
      reservationId: id,
      orderId: "order-1",
      lines: [
        { sku: b, quantity: 1 },
        { sku: a, quantity: 2 },
      ],
    });
    expect(again.reservation).toEqual(first.reservation);
    expect(await levels(a)).toEqual({ onHand: 10, reserved: 2, available: 8 });
    // Same id, other lines.
    await failure(
      inventory.client.reserve({ reservationId: id, orderId: "order-1", lines: [{ sku: a, quantity: 3 }] }),
      Code.FAILED_PRECONDITION,
    );

    const committed = await inventory.client.commit({ reservationId: id });
    expect(committed.reservation?.status).toBe(ReservationStatus.COMMITTED);
    expect(await levels(a)).toEqual({ onHand: 8, reserved: 0, available: 8 });
    expect(await levels(b)).toEqual({ onHand: 2, reserved: 0, available: 2 });
    const committedAgain = await inventory.client.commit({ reservationId: id });
    expect(committedAgain.reservation?.status).toBe(ReservationStatus.COMMITTED);
    expect(await levels(a)).toEqual({ onHand: 8, reserved: 0, available: 8 });
    await failure(inventory.client.release({ reservationId: id }), Code.FAILED_PRECONDITION);
    // A repeated Reserve after the commit answers with the committed reservation and holds nothing.
    const afterCommit = await inventory.client.reserve({
      reservationId: id,
      orderId: "order-1",
      lines: [
        { sku: a, quantity: 2 },
        { sku: b, quantity: 1 },
      ],
    });
    expect(afterCommit.reservation?.status).toBe(ReservationStatus.COMMITTED);
    expect(await levels(a)).toEqual({ onHand: 8, reserved: 0, available: 8 });

    // Release gives the units back, once.
    const other = uuidv7();
    await inventory.client.reserve({ reservationId: other, lines: [{ sku: a, quantity: 5 }] });
    expect(await levels(a)).toEqual({ onHand: 8, reserved: 5, available: 3 });
    const released = await inventory.client.release({ reservationId: other, reason: "payment declined" });
    expect(released.reservation?.status).toBe(ReservationStatus.RELEASED);
    expect(await levels(a)).toEqual({ onHand: 8, reserved: 0, available: 8 });
    const releasedAgain = await inventory.client.release({ reservationId: other });
    expect(releasedAgain.reservation?.status).toBe(ReservationStatus.RELEASED);
    expect(await levels(a)).toEqual({ onHand: 8, reserved: 0, available: 8 });
    await failure(inventory.client.commit({ reservationId: other }), Code.FAILED_PRECONDITION);

    await failure(inventory.client.commit({ reservationId: uuidv7() }), Code.NOT_FOUND);
  });

  it("restocks a committed reservation exactly once, even when asked concurrently", async () => {
    const a = await stocked(10);
    const b = await stocked(5);
    const id = uuidv7();
    await inventory.client.reserve({
      reservationId: id,
      orderId: "order-restock",
      lines: [
        { sku: b, quantity: 2 },
        { sku: a, quantity: 3 },
      ],
    });
    await inventory.client.commit({ reservationId: id });
    expect(await levels(a)).toEqual({ onHand: 7, reserved: 0, available: 7 });
    expect(await levels(b)).toEqual({ onHand: 3, reserved: 0, available: 3 });

    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        inventory.client.restock({ reservationId: id, reason: "order cancelled" }),
      ),
    );
    for (const result of results) {
      expect(result.reservation?.status).toBe(ReservationStatus.RESTOCKED);
      expect(result.reservation?.id).toBe(id);
    }
    expect(await levels(a)).toEqual({ onHand: 10, reserved: 0, available: 10 });
    expect(await levels(b)).toEqual({ onHand: 5, reserved: 0, available: 5 });
    // A repeat is a no-op answering the same reservation.
    const again = await inventory.client.restock({ reservationId: id, reason: "order cancelled" });
    expect(again.reservation).toEqual(results[0]?.reservation);
    expect(await levels(a)).toEqual({ onHand: 10, reserved: 0, available: 10 });

    // Restocked is terminal: no release, commit or second life through Reserve.
    await failure(inventory.client.release({ reservationId: id }), Code.FAILED_PRECONDITION);
    await failure(inventory.client.commit({ reservationId: id }), Code.FAILED_PRECONDITION);
    const repeated = await inventory.client.reserve({
      reservationId: id,
      orderId: "order-restock",
      lines: [
        { sku: a, quantity: 3 },
        { sku: b, quantity: 2 },
      ],
    });
    expect(repeated.reservation?.status).toBe(ReservationStatus.RESTOCKED);
    expect(await levels(a)).toEqual({ onHand: 10, reserved: 0, available: 10 });

    const [audit] = await inventory.service.database.query<{ n: number; units: number }>(
      sql`select count(*)::int as n, coalesce(sum(delta), 0)::int as units from stock_movements
           where reservation_id = ${id} and kind = 'restock'`,
    );
    expect(audit).toEqual({ n: 2, units: 5 });
    const [events] = await inventory.service.database.query<{ n: number }>(
      sql`select count(*)::int as n from outbox where subject = ${STOCK_RELEASED_SUBJECT} and aggregate_id = ${id}`,
    );
    expect(events?.n).toBe(1);
    await waitFor(
      async () =>
        (await streamMessages(inventory.nc, inventoryStream.name, STOCK_RELEASED_SUBJECT))
          .map((m) => fromBinary(StockReleasedSchema, m.data))
          .some((e) => e.reservationId === id),
      { message: "StockReleased for the restock" },
    );
    const released = (await streamMessages(inventory.nc, inventoryStream.name, STOCK_RELEASED_SUBJECT))
      .map((m) => fromBinary(StockReleasedSchema, m.data))
      .filter((e) => e.reservationId === id);
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({
      status: ReservationStatus.RESTOCKED,
      reason: "order cancelled",
      orderId: "order-restock",
    });
    expect(released[0]?.lines.map((l) => [l.sku, l.quantity])).toEqual(
      [
        [a, 3],
        [b, 2],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
  });

  it("refuses to restock a reservation that was never committed, changing nothing", async () => {
    const sku = await stocked(6);
    const held = uuidv7();
    await inventory.client.reserve({ reservationId: held, lines: [{ sku, quantity: 2 }] });
    await failure(inventory.client.restock({ reservationId: held }), Code.FAILED_PRECONDITION);
    expect(await levels(sku)).toEqual({ onHand: 6, reserved: 2, available: 4 });

    await inventory.client.release({ reservationId: held });
    await failure(inventory.client.restock({ reservationId: held }), Code.FAILED_PRECONDITION);
    expect(await levels(sku)).toEqual({ onHand: 6, reserved: 0, available: 6 });

    const tombstone = uuidv7();
    await inventory.client.release({ reservationId: tombstone });
    await failure(inventory.client.restock({ reservationId: tombstone }), Code.FAILED_PRECONDITION);
    await failure(inventory.client.restock({ reservationId: uuidv7() }), Code.NOT_FOUND);
    const bad = await failure(inventory.client.restock({ reservationId: "" }), Code.INVALID_ARGUMENT);
    expect(bad.violations.map((v) => v.field)).toEqual(["reservation_id"]);
    expect(await levels(sku)).toEqual({ onHand: 6, reserved: 0, available: 6 });
  });

  it("records a release of an unknown id so that a late Reserve with it is ABORTED", async () => {
    const sku = await stocked(4);
    const id = uuidv7();
    const released = await inventory.client.release({ reservationId: id, reason: "saga compensation" });
    expect(released.reservation).toBeUndefined();
    expect((await inventory.client.release({ reservationId: id })).reservation).toBeUndefined();
    await failure(
      inventory.client.reserve({ reservationId: id, lines: [{ sku, quantity: 1 }] }),
      Code.ABORTED,
    );
    expect(await levels(sku)).toEqual({ onHand: 4, reserved: 0, available: 4 });
    await failure(inventory.client.commit({ reservationId: id }), Code.FAILED_PRECONDITION);
  });

  it("is all-or-nothing across lines", async () => {
    const a = await stocked(5);
    const b = await stocked(1);
    const unknown = newSku();
    const id = uuidv7();
    const before = await counts();
    const error = await failure(
      inventory.client.reserve({
        reservationId: id,
        lines: [
          { sku: a, quantity: 2 },
          { sku: b, quantity: 2 },
        ],
      }),
      Code.FAILED_PRECONDITION,
    );
    expect(error.message).toContain(b);
    expect(error.message).not.toContain(a);
    await failure(
      inventory.client.reserve({
        reservationId: uuidv7(),
        lines: [
          { sku: a, quantity: 1 },
          { sku: unknown, quantity: 1 },
        ],
      }),
      Code.FAILED_PRECONDITION,
    );
    expect(await levels(a)).toEqual({ onHand: 5, reserved: 0, available: 5 });
    expect(await levels(b)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    expect(await counts()).toEqual(before);

    // The refused id is not remembered: once stock arrives, the same id succeeds.
    await inventory.client.adjustStock({ sku: b, delta: 1, reason: "delivery" }, admin);
    const ok = await inventory.client.reserve({
      reservationId: id,
      lines: [
        { sku: a, quantity: 2 },
        { sku: b, quantity: 2 },
      ],
    });
    expect(ok.reservation?.status).toBe(ReservationStatus.HELD);
    expect(await levels(b)).toEqual({ onHand: 2, reserved: 2, available: 0 });
  });

  it("never oversells: 50 concurrent reservations of 1 unit for 10 units → exactly 10 succeed", async () => {
    const sku = await stocked(10);
    const other = await stocked(100);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        inventory.client.reserve({
          reservationId: uuidv7(),
          // Half the calls also take a unit of another SKU, listed first, to mix lock orders.
          lines:
            i % 2 === 0
              ? [{ sku, quantity: 1 }]
              : [
                  { sku: other, quantity: 1 },
                  { sku, quantity: 1 },
                ],
        }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(ok).toHaveLength(10);
    for (const r of refused)
      expect(((r as PromiseRejectedResult).reason as ServiceError).code).toBe(Code.FAILED_PRECONDITION);
    expect(await levels(sku)).toEqual({ onHand: 10, reserved: 10, available: 0 });
    const [held] = await inventory.service.database.query<{ n: number }>(
      sql`select coalesce(sum(quantity), 0)::int as n from reservation_lines l join reservations r on r.id = l.reservation_id
          where l.sku = ${sku} and r.status = 'held'`,
    );
    expect(held?.n).toBe(10);
  });

  it("the same reservation id sent concurrently reserves once", async () => {
    const sku = await stocked(20);
    const id = uuidv7();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        inventory.client.reserve({ reservationId: id, lines: [{ sku, quantity: 3 }] }),
      ),
    );
    expect(new Set(results.map((r) => r.reservation?.id))).toEqual(new Set([id]));
    expect(await levels(sku)).toEqual({ onHand: 20, reserved: 3, available: 17 });
  });

  it("releases expired reservations through the sweeper", async () => {
    const sku = await stocked(3);
    const id = uuidv7();
    await inventory.client.reserve({ reservationId: id, lines: [{ sku, quantity: 3 }], ttlSeconds: 1 });
    expect(await levels(sku)).toEqual({ onHand: 3, reserved: 3, available: 0 });
    await waitFor(async () => (await levels(sku)).reserved === 0, {
      timeoutMs: 5000,
      message: "the sweeper",
    });
    expect(await levels(sku)).toEqual({ onHand: 3, reserved: 0, available: 3 });
    const released = await inventory.client.release({ reservationId: id });
    expect(released.reservation?.status).toBe(ReservationStatus.EXPIRED);
    await failure(inventory.client.commit({ reservationId: id }), Code.FAILED_PRECONDITION);
    // A repeated Reserve answers with the expired reservation; it does not hold stock again.
    const repeated = await inventory.client.reserve({ reservationId: id, lines: [{ sku, quantity: 3 }] });
    expect(repeated.reservation?.status).toBe(ReservationStatus.EXPIRED);
    expect(await levels(sku)).toEqual({ onHand: 3, reserved: 0, available: 3 });
  });

  it("sweeps safely with several sweepers at once", async () => {
    const sku = await stocked(40);
    const ids = Array.from({ length: 30 }, () => uuidv7());
    for (const id of ids)
      await inventory.client.reserve({ reservationId: id, lines: [{ sku, quantity: 1 }], ttlSeconds: 60 });
    // Expire them now, then race four sweepers (and the service's own) over them.
    await inventory.service.database.query(
      sql`update reservations set expires_at = now() - interval '1 second' where id in (${sql.join(
        ids.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
    const swept = await Promise.all(
      Array.from({ length: 4 }, async () => {
        let total = 0;
        for (;;) {
          const n = await sweepExpired(inventory.service.database, 4);
          total += n;
          if (n === 0) return total;
        }
      }),
    );
    expect(swept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30);
    await waitFor(async () => (await levels(sku)).reserved === 0, { timeoutMs: 5000 });
    expect(await levels(sku)).toEqual({ onHand: 40, reserved: 0, available: 40 });
    const [events] = await inventory.service.database.query<{ n: number }>(
      sql`select count(*)::int as n from outbox where subject = ${STOCK_RELEASED_SUBJECT} and aggregate_id in (${sql.join(
        ids.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
    expect(events?.n).toBe(30);
  });
});

describe("events", () => {
  it("publishes StockReserved, StockReleased and StockLow once each", async () => {
    const sku = await stocked(10);
    const id = uuidv7();
    await inventory.client.reserve({ reservationId: id, orderId: "order-ev", lines: [{ sku, quantity: 6 }] });
    await inventory.client.reserve({ reservationId: id, orderId: "order-ev", lines: [{ sku, quantity: 6 }] });
    await inventory.client.reserve({ reservationId: uuidv7(), lines: [{ sku, quantity: 1 }] }); // still low: no new StockLow
    await inventory.client.release({ reservationId: id, reason: "payment declined" });
    await inventory.client.release({ reservationId: id, reason: "payment declined" });

    const read = async () => {
      const reserved = (await streamMessages(inventory.nc, inventoryStream.name, STOCK_RESERVED_SUBJECT))
        .map((m) => fromBinary(StockReservedSchema, m.data))
        .filter((e) => e.reservationId === id);
      const released = (await streamMessages(inventory.nc, inventoryStream.name, STOCK_RELEASED_SUBJECT))
        .map((m) => fromBinary(StockReleasedSchema, m.data))
        .filter((e) => e.reservationId === id);
      const low = (await streamMessages(inventory.nc, inventoryStream.name, STOCK_LOW_SUBJECT))
        .map((m) => fromBinary(StockLowSchema, m.data))
        .filter((e) => e.sku === sku);
      return { reserved, released, low };
    };
    await waitFor(
      async () => {
        const e = await read();
        return e.reserved.length > 0 && e.released.length > 0 && e.low.length > 0;
      },
      { message: "inventory events" },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { reserved, released, low } = await read();
    expect(reserved).toHaveLength(1);
    expect(reserved[0]).toMatchObject({ orderId: "order-ev" });
    expect(reserved[0]?.lines.map((l) => [l.sku, l.quantity])).toEqual([[sku, 6]]);
    expect(reserved[0]?.expiresAt).toBeDefined();
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ status: ReservationStatus.RELEASED, reason: "payment declined" });
    expect(low).toHaveLength(1);
    expect(low[0]).toMatchObject({ available: 4, threshold: 5 });
  });
});
