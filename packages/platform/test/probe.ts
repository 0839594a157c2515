/**
 * ProbeService handlers shared by the in-process tests and the child-process fixture: Echo sleeps
 * (abortably), fails on demand and reports what it saw; Relay forwards to the next hop.
 */
import { Writable } from "node:stream";
import type { ProbeService } from "@mercato/sdk/gen/mercato/testing/v1/probe_pb";
import { codeName, invalidArgument, notFound, ServiceError } from "../src/errors/index.js";
import type { ServiceClient, ServiceHandlers } from "../src/grpc/index.js";
import { createLogger, type Logger } from "../src/log/index.js";
import { sleep } from "../src/resilience/index.js";

/** Counters a probe exposes to its test. */
export interface ProbeStats {
  echoCalls: number;
  /** Echo calls whose delay was cut short by the call's abort signal. */
  aborted: number;
}

/** Builds probe handlers; `next` is the client Relay uses. */
export function probeHandlers(
  next?: ServiceClient<typeof ProbeService>,
  logger?: Logger,
): { handlers: ServiceHandlers<typeof ProbeService>; stats: ProbeStats } {
  const stats: ProbeStats = { echoCalls: 0, aborted: 0 };
  const handlers: ServiceHandlers<typeof ProbeService> = {
    async echo(request, ctx) {
      stats.echoCalls++;
      if (request.delayMs > 0 && !(await sleep(request.delayMs, ctx.signal))) {
        stats.aborted++;
        logger?.info({ reason: String(ctx.signal.reason) }, "echo delay aborted");
        throw ctx.signal.reason;
      }
      // Like PlaceOrder with one bad line per line of input: as many violations as lines.
      if (request.failCode === 3 && request.message.includes("\n")) {
        throw invalidArgument(
          request.message
            .split("\n")
            .map((_, i) => ({ field: `lines[${i}].product_id`, description: "is required" })),
        );
      }
      if (request.failCode === 3) {
        throw invalidArgument([
          { field: "message", description: "must not be empty" },
          { field: "delay_ms", description: "must be at most 60000" },
        ]);
      }
      // Like a lookup that names what it did not find, whatever its size.
      if (request.failCode === 5 && request.message !== "") throw notFound(`${request.message} not found`);
      if (request.failCode === 13) throw new Error("database password hunter2 rejected");
      if (request.failCode !== 0)
        throw new ServiceError(request.failCode, `failing with ${codeName(request.failCode)} as asked`);
      return {
        message: request.message,
        deadlineRemainingMs: ctx.deadline === undefined ? -1n : BigInt(ctx.deadline - Date.now()),
        requestId: ctx.requestId,
        calls: BigInt(stats.echoCalls),
      };
    },
    async relay(request) {
      if (!next) throw new ServiceError(9, "no next hop configured");
      const echo = request.echo ?? {};
      if (request.hops > 0) return { echo: (await next.relay({ echo, hops: request.hops - 1 })).echo };
      return { echo: await next.echo(echo) };
    },
  };
  return { handlers, stats };
}

/** A logger whose JSON lines are kept in `lines` (and not printed). */
export function captureLogger(service = "probe"): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ service, level: "debug", destination }), lines };
}
