/**
 * Fault tests against ProbeService servers running as real child processes: a SIGSTOP-paused
 * upstream must cost a caller no more than its deadline, anywhere in a chain of hops.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { ProbeService } from "@mercato/sdk/gen/mercato/testing/v1/probe_pb";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { type SpawnedProcess, spawnProcess, waitFor } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceError } from "../src/errors/index.js";
import { createServiceClient } from "../src/grpc/index.js";
import { captureLogger } from "./probe.js";

const fixture = fileURLToPath(new URL("./fixtures/probe-server.ts", import.meta.url));
const packageDir = fileURLToPath(new URL("..", import.meta.url));
// Scheduling noise on a loaded two-core machine (CI runs test files side by side), on top of the
// deadline; a paused upstream without a working deadline would hang for good, so this still tells.
const slackMs = 1000;

async function startFixture(
  next?: string,
): Promise<{ process: SpawnedProcess; address: string; adminPort: number }> {
  const child = spawnProcess(process.execPath, ["--import", "tsx", fixture], {
    cwd: packageDir,
    env: { PROBE_NEXT: next, LOG_LEVEL: "warn" },
  });
  // Started from source (tsx): generous, a busy machine took over 30 s for a service to print a line.
  await child.waitForOutput(/READY \{.*\}\n/, 60_000);
  const match = /READY (\{.*\})/.exec(child.output());
  const ports = JSON.parse(match?.[1] ?? "{}") as { port: number; adminPort: number };
  return { process: child, address: `127.0.0.1:${ports.port}`, adminPort: ports.adminPort };
}

async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await promise;
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe("paused upstream processes", () => {
  const { logger } = captureLogger("process-test");
  let c: Awaited<ReturnType<typeof startFixture>>;
  let b: Awaited<ReturnType<typeof startFixture>>;

  beforeAll(async () => {
    c = await startFixture();
    b = await startFixture(c.address);
  });

  afterAll(async () => {
    await Promise.all([b?.process.stop(), c?.process.stop()]);
  });

  it("costs a direct caller no more than its deadline, and recovers after SIGCONT", async () => {
    const deadlineMs = 400;
    const client = createServiceClient(ProbeService, {
      upstream: "c",
      address: c.address,
      defaultDeadlineMs: deadlineMs,
      logger,
    });
    try {
      expect((await client.echo({ message: "warm" })).message).toBe("warm");
      c.process.pause();
      try {
        const results = await Promise.all(
          Array.from({ length: 5 }, () => timed(client.echo({ message: "paused" }))),
        );
        for (const { ms, error } of results) {
          expect(error).toBeInstanceOf(ServiceError);
          expect((error as ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
          expect(ms).toBeLessThan(deadlineMs + slackMs);
        }
        process.stdout.write(
          `paused upstream: deadline ${deadlineMs} ms, calls took ${results.map((r) => Math.round(r.ms)).join(", ")} ms\n`,
        );
      } finally {
        c.process.resume();
      }
      await waitFor(async () => (await client.echo({ message: "back" })).message === "back", {
        timeoutMs: 5_000,
      });
    } finally {
      client.$close();
    }
  });

  it("bounds a call through a chain by the edge deadline when the last hop is paused", async () => {
    const edge = createGrpcClient(ProbeService, b.address);
    try {
      const answer = await edge.relay(
        { echo: { message: "through" }, hops: 0 },
        { deadline: Date.now() + 2_000 },
      );
      expect(answer.echo?.message).toBe("through");
      expect(Number(answer.echo?.deadlineRemainingMs)).toBeLessThanOrEqual(2_000);

      const deadlineMs = 500;
      c.process.pause();
      try {
        const { ms, error } = await timed(
          edge.relay({ echo: { message: "stuck" }, hops: 0 }, { deadline: Date.now() + deadlineMs }),
        );
        expect((error as grpc.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
        expect(ms).toBeLessThan(deadlineMs + slackMs);
        process.stdout.write(
          `paused last hop: edge deadline ${deadlineMs} ms, call took ${Math.round(ms)} ms\n`,
        );
      } finally {
        c.process.resume();
      }
      await waitFor(
        async () =>
          (await edge.relay({ echo: { message: "ok" }, hops: 0 }, { deadline: Date.now() + 1_000 })).echo
            ?.message === "ok",
      );
    } finally {
      edge.$close();
    }
  });

  it("stops gracefully on SIGTERM", async () => {
    const extra = await startFixture();
    const ready = await fetch(`http://127.0.0.1:${extra.adminPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await extra.process.kill("SIGTERM")).toBe(0);
  });
});
