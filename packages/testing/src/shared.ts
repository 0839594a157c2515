import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { inject } from "vitest";
import type {} from "./provided-context.js";

function provided(key: "mercatoDatabaseUrl" | "mercatoNatsUrl"): string | undefined {
  try {
    return inject(key);
  } catch {
    return undefined;
  }
}

/**
 * The shared PostgreSQL server of this test run: the one the global setup started, or `DATABASE_URL`.
 *
 * @throws when neither is available (tests must run through the root vitest config)
 */
export function sharedDatabaseUrl(): string {
  const url = provided("mercatoDatabaseUrl") ?? process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      "@mercato/testing: no shared PostgreSQL. Run tests with the root vitest config (its globalSetup starts " +
        "one: `pnpm exec vitest run <path>` from the repository root, or `pnpm test` in a package) or set DATABASE_URL.",
    );
  }
  return url;
}

/**
 * Creates a new, empty database with a unique name on the run's shared PostgreSQL server and returns a
 * URL for it. Give each test file (or test) its own: nothing is shared, so files run in parallel safely.
 *
 * @param prefix - start of the database name (lower-case letters, digits, `_`; default `"test"`)
 * @returns e.g. `postgres://postgres@127.0.0.1:PORT/test_k3j9q0zp2m4x`
 */
export async function testDatabaseUrl(prefix = "test"): Promise<string> {
  const server = sharedDatabaseUrl();
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, "_")}_${randomBytes(8).toString("hex")}`;
  const sql = postgres(server, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The URL of the run's shared nats-server with JetStream (started by the global setup, or `NATS_URL`).
 * Use `uniqueName` for stream, consumer and subject names so tests do not collide.
 *
 * @throws when neither is available
 */
export function testNatsUrl(): string {
  const url = provided("mercatoNatsUrl") ?? process.env.NATS_URL;
  if (!url) {
    throw new Error(
      "@mercato/testing: no shared nats-server. Run tests with the root vitest config (its globalSetup starts " +
        "one) or set NATS_URL.",
    );
  }
  return url;
}
