import type { ExtractTablesWithRelations, SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { Logger } from "../log/index.js";
import { tracedTransaction } from "./tracing.js";

/** A drizzle schema: the tables (and relations) a service declares in `src/db/schema.ts`. */
export type DbSchema = Record<string, unknown>;

/** The drizzle instance of a {@link Database}. */
export type Db<S extends DbSchema = DbSchema> = PgDatabase<PgQueryResultHKT, S>;

/** A drizzle transaction, as passed to {@link Database.transaction} callbacks. */
export type Tx<S extends DbSchema = DbSchema> = PgTransaction<
  PgQueryResultHKT,
  S,
  ExtractTablesWithRelations<S>
>;

/**
 * Anything that runs SQL: the database itself or a transaction. Functions that must join the caller's
 * transaction (such as `enqueueEvent`) take this.
 */
// biome-ignore lint/suspicious/noExplicitAny: accepts a db or transaction whatever its schema
export type SqlExecutor = PgDatabase<PgQueryResultHKT, any, any>;

/** Which driver a {@link Database} runs on (recorded on database spans). */
export type DatabaseDriver = "postgres";

/** A connected database: drizzle plus the few driver-level operations drizzle does not cover. */
export interface Database<S extends DbSchema = DbSchema> {
  /** The drizzle instance, typed by the schema given to {@link connectDatabase}. */
  readonly db: Db<S>;
  /** Always `postgres` (postgres.js); recorded on database spans. */
  readonly driver: DatabaseDriver;
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Tx<S>) => Promise<T>): Promise<T>;
  /** Runs raw SQL (on the database, or on `executor` when given) and returns its rows. */
  query<T extends Record<string, unknown>>(query: SQL, executor?: SqlExecutor): Promise<T[]>;
  /**
   * Subscribes to `NOTIFY` on `channel`. Notifications sent inside a transaction arrive after it commits,
   * never for a rolled-back one. The subscription reconnects by itself.
   *
   * @returns a function that unsubscribes
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Closes every connection (waits up to a few seconds for running queries). Safe to call twice. */
  close(): Promise<void>;
}

/** Options for {@link connectDatabase}. */
export interface ConnectDatabaseOptions<S extends DbSchema> {
  /** PostgreSQL URL (`DATABASE_URL`). */
  readonly url: string;
  /** The drizzle schema (tables and relations). */
  readonly schema: S;
  readonly logger: Logger;
  /** Most connections postgres.js opens; default 10. */
  readonly maxConnections?: number;
}

/** Rows of a raw query (drizzle returns postgres.js's result, an array of rows). */
export async function queryRows<T extends Record<string, unknown>>(
  executor: SqlExecutor,
  query: SQL,
): Promise<T[]> {
  const result: unknown = await executor.execute(query);
  return result as T[];
}

/**
 * Connects to PostgreSQL at `url` through postgres.js, with drizzle using `casing: "snake_case"`.
 *
 * @throws when `url` is empty or the server cannot be reached
 */
export async function connectDatabase<S extends DbSchema>(
  options: ConnectDatabaseOptions<S>,
): Promise<Database<S>> {
  const { url, schema, logger } = options;
  if (url === "") throw new Error("connectDatabase: url (DATABASE_URL) is empty");
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    onnotice: (notice) => logger.debug({ notice: notice.message }, "postgres notice"),
  });
  try {
    await client`select 1`;
  } catch (err) {
    await client.end({ timeout: 1 });
    throw new Error(`cannot connect to PostgreSQL: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const db = drizzlePostgres(client, { schema, casing: "snake_case" }) as unknown as Db<S>;
  logger.info({ driver: "postgres" }, "database connected");
  let closed: Promise<void> | undefined;
  return {
    db,
    driver: "postgres",
    transaction: (fn) => tracedTransaction(() => db.transaction(fn)),
    query: (query, executor = db) => queryRows(executor, query),
    async listen(channel, onNotify) {
      const request = await client.listen(channel, (payload) => onNotify(payload));
      return () => request.unlisten();
    },
    close() {
      closed ??= client.end({ timeout: 5 });
      return closed;
    },
  };
}
