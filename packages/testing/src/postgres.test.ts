import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { startPostgres, testDatabaseUrl } from "./index.js";

describe("startPostgres", () => {
  it("starts a throwaway cluster that answers queries, and removes it on stop", async () => {
    const pg = await startPostgres();
    try {
      expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
      const sql = postgres(pg.url, { max: 1 });
      try {
        const rows = await sql<{ one: number }[]>`select 1 as one`;
        expect(rows[0]?.one).toBe(1);
      } finally {
        await sql.end();
      }
    } finally {
      await pg.stop();
    }
    expect(existsSync(pg.dataDir)).toBe(false);
  });

  it("keeps a persistent cluster's data across stop and start, and its folder after stop", async () => {
    const base = await mkdtemp(join(tmpdir(), "mercato-pg-persistent-"));
    await chmod(base, 0o755); // like a checkout's .data/, which PostgreSQL's own account must pass through
    const dataDir = join(base, "cluster");
    try {
      const first = await startPostgres({ dataDir });
      try {
        expect(first.dataDir).toBe(dataDir);
        const sql = postgres(first.url, { max: 1, onnotice: () => {} });
        await sql`create table kept (id int primary key)`;
        await sql`insert into kept values (7)`;
        await sql.end();
      } finally {
        await first.stop();
      }
      expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true);

      const second = await startPostgres({ dataDir });
      try {
        const sql = postgres(second.url, { max: 1 });
        try {
          const rows = await sql<{ id: number }[]>`select id from kept`;
          expect(rows.map((r) => r.id)).toEqual([7]);
          const [fsync] = await sql<{ fsync: string }[]>`show fsync`;
          expect(fsync?.fsync).toBe("on");
        } finally {
          await sql.end();
        }
      } finally {
        await second.stop();
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe("testDatabaseUrl", () => {
  it("gives each caller its own empty database on the shared server", async () => {
    const [a, b] = await Promise.all([testDatabaseUrl(), testDatabaseUrl("orders")]);
    expect(a).not.toBe(b);
    expect(new URL(b).pathname).toMatch(/^\/orders_[0-9a-f]{16}$/);
    const sql = postgres(a, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ db: string }[]>`select current_database() as db`;
      expect(`/${row?.db}`).toBe(new URL(a).pathname);
      await sql`create table t (id int primary key)`;
      await sql`insert into t values (1)`;
      expect(await sql`select * from t`).toHaveLength(1);
    } finally {
      await sql.end();
    }
  });
});
