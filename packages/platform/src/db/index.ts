/**
 * Persistence: drizzle over postgres.js (a PostgreSQL server), and a migrator
 * that is safe when several replicas start at once.
 */
export {
  type ConnectDatabaseOptions,
  connectDatabase,
  type Database,
  type DatabaseDriver,
  type Db,
  type DbSchema,
  queryRows,
  type SqlExecutor,
  type Tx,
} from "./database.js";
export { type MigrateOptions, type MigrationSource, migrate } from "./migrate.js";
export { foreignKeyViolation, type PostgresError, postgresError, uniqueViolation } from "./pg-errors.js";
