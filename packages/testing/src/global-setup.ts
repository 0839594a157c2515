/**
 * vitest globalSetup for the whole workspace: starts ONE PostgreSQL and ONE nats-server (JetStream) for the
 * run, unless `DATABASE_URL` / `NATS_URL` name existing ones, hands their URLs to test files
 * (`testDatabaseUrl()`, `testNatsUrl()`), and stops them at the end.
 *
 * Runs in vitest's main process, where importing "vitest" itself is not allowed: only types come from it.
 */
import type { TestProject } from "vitest/node";
import { type NatsServer, startNats } from "./nats.js";
import { type PostgresServer, startPostgres } from "./postgres.js";
import type {} from "./provided-context.js";

function explain(what: string, err: unknown): Error {
  const detail = err instanceof Error ? err.message : String(err);
  return new Error(
    `@mercato/testing global setup could not start ${what}.\n${detail}\n` +
      "Install the test tools with `bash scripts/bootstrap.sh` (scripts/test.sh runs it), or point " +
      `${what === "PostgreSQL" ? "DATABASE_URL" : "NATS_URL"} at a running server.`,
    { cause: err },
  );
}

/** Starts the shared servers; returns the teardown that stops them. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const envDb = process.env.DATABASE_URL;
  const envNats = process.env.NATS_URL;
  const [pg, nats] = await Promise.allSettled([
    envDb ? Promise.resolve(undefined) : startPostgres(),
    envNats ? Promise.resolve(undefined) : startNats(),
  ]);
  const started: (PostgresServer | NatsServer)[] = [];
  if (pg.status === "fulfilled" && pg.value) started.push(pg.value);
  if (nats.status === "fulfilled" && nats.value) started.push(nats.value);
  const teardown = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.stop()));
  };
  if (pg.status === "rejected" || nats.status === "rejected") {
    await teardown();
    if (pg.status === "rejected") throw explain("PostgreSQL", pg.reason);
    if (nats.status === "rejected") throw explain("nats-server", nats.reason);
  }
  const dbUrl = envDb ?? (pg.status === "fulfilled" ? pg.value?.url : undefined);
  const natsUrl = envNats ?? (nats.status === "fulfilled" ? nats.value?.url : undefined);
  if (dbUrl === undefined || natsUrl === undefined)
    throw new Error("@mercato/testing global setup: no server URL");
  project.provide("mercatoDatabaseUrl", dbUrl);
  project.provide("mercatoNatsUrl", natsUrl);
  return teardown;
}
