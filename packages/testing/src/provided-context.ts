/*
 * Types of the values the global setup hands to test files through vitest's provide/inject.
 * Type-only: importing "vitest" at run time would fail inside globalSetup and outside the runner.
 */
export {};

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the run's shared PostgreSQL server (admin database); see `testDatabaseUrl`. */
    mercatoDatabaseUrl: string;
    /** URL of the run's shared nats-server with JetStream; see `testNatsUrl`. */
    mercatoNatsUrl: string;
  }
}
