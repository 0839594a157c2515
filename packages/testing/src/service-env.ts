import type { JsMsg, NatsConnection } from "nats";
import { testDatabaseUrl, testNatsUrl } from "./shared.js";

/**
 * The environment a service test passes to the service's config loader to run it in-process: ports
 * chosen by the OS, a fresh database on the run's PostgreSQL, the run's nats-server, quiet logs
 * (`TEST_LOG_LEVEL` to see them) and a short shutdown grace. `overrides` win.
 */
export async function testServiceEnv(
  service: string,
  overrides: Readonly<Record<string, string>> = {},
): Promise<Record<string, string>> {
  return {
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    DATABASE_URL: await testDatabaseUrl(service),
    NATS_URL: testNatsUrl(),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    SHUTDOWN_GRACE_MS: "1000",
    ...overrides,
  };
}

/**
 * Deadline (ms) of the gRPC calls a test makes through a service client. A test checks what a call
 * does, not how fast it does it: the test's own timeout (vitest's `testTimeout`, 60 s) is the bound,
 * and this stays under it so that a hung call still fails with DEADLINE_EXCEEDED naming the method
 * rather than with a bare test timeout. A fixed 5 s failed correct calls on a slow day (20 reviews
 * serialised on one row took longer). Speed is measured in bench/, not here.
 */
export const TEST_CALL_DEADLINE_MS = 50_000;

/** Call options carrying a caller the way the edge forwards it (`x-user-id`, `x-user-role`). */
export function callerMetadata(userId: string, role: "admin" | "customer") {
  return { metadata: { "x-user-id": userId, "x-user-role": role } };
}

/** Every message on `subject` currently in `stream`, in order (an ephemeral consumer, deleted after). */
export async function streamMessages(nc: NatsConnection, stream: string, subject: string): Promise<JsMsg[]> {
  const consumer = await nc.jetstream().consumers.get(stream, { filterSubjects: [subject] });
  const out: JsMsg[] = [];
  for (;;) {
    const message = await consumer.next({ expires: 1000 });
    if (!message) break;
    out.push(message);
    if (message.info.pending === 0) break;
  }
  await consumer.delete().catch(() => undefined);
  return out;
}
