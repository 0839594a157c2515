/**
 * Test infrastructure for Mercato: throwaway PostgreSQL and nats-server instances, per-test databases and
 * names, child-process and fault-injection helpers. Import from test files run by vitest; scripts that run
 * outside vitest import `@mercato/testing/servers` instead.
 *
 * @packageDocumentation
 */
export * from "./pacts.js";
export * from "./servers.js";
export { callerMetadata, streamMessages, TEST_CALL_DEADLINE_MS, testServiceEnv } from "./service-env.js";
export { sharedDatabaseUrl, testDatabaseUrl, testNatsUrl } from "./shared.js";
