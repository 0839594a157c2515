/**
 * One hot SKU under load: every order reserves and commits the same SKU. Checks that nothing is
 * lost or oversold, and prints the latencies and lock waiters (information, never asserted: speed
 * belongs in bench/). The suite runs a small load; for the figures in the inventory README use
 * `HOT_SKU_PAIRS=200 HOT_SKU_CONCURRENCY=20 pnpm exec vitest run services/inventory/src/hot-sku.test.ts`;
 * HOT_SKU_SPREAD=1 gives every worker its own SKU, for comparison (the same work without one hot row).
 */
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, startInventory, type TestInventory } from "../test/helpers.js";

const pairs = Number(process.env.HOT_SKU_PAIRS ?? 60);
const concurrency = Number(process.env.HOT_SKU_CONCURRENCY ?? 10);
const spread = process.env.HOT_SKU_SPREAD === "1";

let inventory: TestInventory;
beforeAll(async () => {
  inventory = await startInventory({ STOCK_LOW_THRESHOLD: "5" });
});
afterAll(async () => {
  await inventory?.stop();
});

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

describe("one hot SKU", () => {
  it(`${pairs} Reserve+Commit pairs at concurrency ${concurrency}: exact stock, latencies reported`, async () => {
    const hot = `HOT-${Date.now().toString(36).toUpperCase()}`;
    const start = pairs + 50;
    const skus = Array.from({ length: concurrency }, (_, i) => (spread ? `${hot}-${i}` : hot));
    for (const sku of new Set(skus)) await inventory.client.setStock({ sku, onHand: start }, admin);
    const sku = skus[0] ?? hot;
    // Warm up connections and code paths.
    for (let i = 0; i < 5; i++) {
      const id = uuidv7();
      await inventory.client.reserve({ reservationId: id, lines: [{ sku, quantity: 1 }] });
      await inventory.client.commit({ reservationId: id });
    }

    const reserveMs: number[] = [];
    const commitMs: number[] = [];
    const pairMs: number[] = [];
    // How many sessions wait for a lock (the stock row) at any moment: a lock convoy shows here.
    const waiting: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await inventory.service.database.query<{ n: number }>(
          sql`select count(*)::int as n from pg_stat_activity
               where datname = current_database() and wait_event_type = 'Lock'`,
        );
        waiting.push(row?.n ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    let next = 0;
    const began = performance.now();
    await Promise.all(
      skus.map(async (workerSku) => {
        while (next < pairs) {
          next++;
          const id = uuidv7();
          const t0 = performance.now();
          await inventory.client.reserve({ reservationId: id, lines: [{ sku: workerSku, quantity: 1 }] });
          const t1 = performance.now();
          await inventory.client.commit({ reservationId: id });
          const t2 = performance.now();
          reserveMs.push(t1 - t0);
          commitMs.push(t2 - t1);
          pairMs.push(t2 - t0);
        }
      }),
    );
    const elapsed = performance.now() - began;
    sampling = false;
    await sampler;
    const figures = {
      pairs,
      concurrency,
      spread,
      elapsedMs: Math.round(elapsed),
      pairsPerSecond: Math.round((pairs / elapsed) * 1000),
      reserve: summary(reserveMs),
      commit: summary(commitMs),
      pair: summary(pairMs),
      lockWaiters: {
        mean: Math.round((waiting.reduce((a, b) => a + b, 0) / Math.max(1, waiting.length)) * 10) / 10,
        max: Math.max(0, ...waiting),
      },
    };
    process.stdout.write(`hot SKU: ${JSON.stringify(figures)}\n`);

    let sold = 0;
    for (const s of new Set(skus)) {
      const levels = await inventory.client.getStock({ sku: s });
      expect(levels.reserved).toBe(0);
      expect(levels.available).toBe(levels.onHand);
      sold += start - levels.onHand;
    }
    expect(sold).toBe(pairs + 5);
  }, 120_000);
});
