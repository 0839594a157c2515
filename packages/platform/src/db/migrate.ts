import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { Logger } from "../log/index.js";
import type { Database, DbSchema } from "./database.js";

/**
 * A folder of versioned SQL migrations in drizzle-kit's layout (`meta/_journal.json` plus one `.sql`
 * file per migration, statements split by `--> statement-breakpoint`), and the table that records which
 * of them ran.
 */
export interface MigrationSource {
  readonly folder: string;
  /**
   * Table (in schema `drizzle`) recording applied migrations; default `__drizzle_migrations`, the one
   * drizzle-kit's own `migrate` uses, so both tools agree on what ran. Each source needs its own table.
   */
  readonly table?: string;
}

/** Options for {@link migrate}. */
export interface MigrateOptions {
  readonly logger?: Logger;
}

/**
 * Applies the pending migrations of each source, in order, in ONE transaction that first takes a
 * PostgreSQL advisory lock: replicas starting together wait for each other, and the one that comes
 * second finds nothing left to do. A failing migration rolls everything back.
 *
 * It keeps drizzle's bookkeeping (a row per migration with its hash and folder timestamp; a migration
 * runs when it is newer than the last one recorded) but not drizzle's migrator, which reads the last
 * applied migration before opening its transaction and takes no lock, so two replicas could both apply
 * the same migration.
 *
 * @param sources - a folder, a {@link MigrationSource}, or several (e.g. `[eventsMigrations, "./drizzle"]`)
 * @returns the number of migrations applied
 */
export async function migrate<S extends DbSchema>(
  database: Database<S>,
  sources: string | MigrationSource | readonly (string | MigrationSource)[],
  options: MigrateOptions = {},
): Promise<number> {
  const list = (Array.isArray(sources) ? sources : [sources]) as readonly (string | MigrationSource)[];
  const normalised = list.map((s) => (typeof s === "string" ? { folder: s } : s));
  const tables = new Set<string>();
  for (const s of normalised) {
    const table = s.table ?? "__drizzle_migrations";
    if (tables.has(table)) throw new Error(`migrate: two migration sources share the table ${table}`);
    tables.add(table);
  }
  const plans = normalised.map((s) => ({
    folder: s.folder,
    table: s.table ?? "__drizzle_migrations",
    migrations: readMigrationFiles({ migrationsFolder: s.folder }),
  }));

  return database.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('mercato:migrate'))`);
    await tx.execute(sql`create schema if not exists drizzle`);
    let applied = 0;
    for (const plan of plans) {
      const table = sql`drizzle.${sql.identifier(plan.table)}`;
      await tx.execute(
        sql`create table if not exists ${table} (id serial primary key, hash text not null, created_at bigint)`,
      );
      const [last] = await database.query<{ created_at: string | number | null }>(
        sql`select created_at from ${table} order by created_at desc limit 1`,
        tx,
      );
      const lastMillis = last?.created_at == null ? -1 : Number(last.created_at);
      for (const migration of plan.migrations) {
        if (migration.folderMillis <= lastMillis) continue;
        for (const statement of migration.sql) {
          if (statement.trim() !== "") await tx.execute(sql.raw(statement));
        }
        await tx.execute(
          sql`insert into ${table} (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
        );
        applied += 1;
        options.logger?.info({ folder: plan.folder, migration: migration.folderMillis }, "migration applied");
      }
    }
    return applied;
  });
}
