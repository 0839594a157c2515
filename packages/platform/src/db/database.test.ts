import { fileURLToPath } from "node:url";
import { testDatabaseUrl, waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { pgTable, serial, text } from "drizzle-orm/pg-core";
import { afterAll, describe, expect, it } from "vitest";
import { eventsMigrations } from "../events/outbox.js";
import { createLogger } from "../log/index.js";
import { connectDatabase, type Database, migrate } from "./index.js";

const widgets = pgTable("widgets", { id: serial().primaryKey(), name: text().notNull(), colourName: text() });
const schema = { widgets };
const migrations = fileURLToPath(new URL("./testdata/migrations", import.meta.url));
const logger = createLogger({ service: "db-test", level: "silent" });

const opened: Database<typeof schema>[] = [];
afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
});

async function open(target: { url: string }): Promise<Database<typeof schema>> {
  const database = await connectDatabase({ ...target, schema, logger });
  opened.push(database);
  return database;
}

async function exercise(database: Database<typeof schema>): Promise<void> {
  expect(await migrate(database, [eventsMigrations, migrations], { logger })).toBe(3);
  // snake_case casing: colourName is the colour_name column of the migration.
  await database.db.insert(widgets).values({ name: "blue one", colourName: "blue" });
  const rows = await database.db.select().from(widgets).orderBy(widgets.id);
  expect(rows.map((r) => [r.name, r.colourName])).toEqual([
    ["seed", null],
    ["blue one", "blue"],
  ]);

  await expect(
    database.transaction(async (tx) => {
      await tx.insert(widgets).values({ name: "rolled back" });
      throw new Error("boom");
    }),
  ).rejects.toThrow("boom");
  const [count] = await database.query<{ n: number }>(sql`select count(*)::int as n from widgets`);
  expect(count?.n).toBe(2);

  const received: string[] = [];
  const unlisten = await database.listen("db_test_channel", (payload) => received.push(payload));
  await database.transaction(async (tx) => {
    await tx.execute(sql`select pg_notify('db_test_channel', 'committed')`);
  });
  await database
    .transaction(async (tx) => {
      await tx.execute(sql`select pg_notify('db_test_channel', 'rolled back')`);
      throw new Error("rollback");
    })
    .catch(() => {});
  await database.transaction(async (tx) => {
    await tx.execute(sql`select pg_notify('db_test_channel', 'second')`);
  });
  await waitFor(() => received.length >= 2, { timeoutMs: 5000 });
  expect(received).toEqual(["committed", "second"]);
  await unlisten();
}

describe("connectDatabase + migrate", () => {
  it("works on a real PostgreSQL server", async () => {
    await exercise(await open({ url: await testDatabaseUrl("db") }));
  });

  it("applies each migration exactly once when replicas start together", async () => {
    const url = await testDatabaseUrl("db_race");
    const replicas = await Promise.all(Array.from({ length: 4 }, () => open({ url })));
    // CREATE TABLE without IF NOT EXISTS: a second application would fail, not go unnoticed.
    const applied = await Promise.all(replicas.map((r) => migrate(r, [eventsMigrations, migrations])));
    expect(applied.reduce((a, b) => a + b, 0)).toBe(3);
    expect(applied.filter((n) => n > 0)).toHaveLength(1);
    const [first] = replicas;
    if (!first) throw new Error("no replica");
    const recorded = await first.query<{ n: number }>(
      sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
    );
    expect(recorded[0]?.n).toBe(2);
    expect(await first.db.select().from(widgets)).toHaveLength(1);
  });

  it("refuses an empty url with a clear error", async () => {
    await expect(connectDatabase({ url: "", schema, logger })).rejects.toThrow(
      /url \(DATABASE_URL\) is empty/,
    );
  });
});
