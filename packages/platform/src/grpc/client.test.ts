import * as grpc from "@grpc/grpc-js";
import { ProbeService } from "@mercato/sdk/gen/mercato/testing/v1/probe_pb";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger, probeHandlers } from "../../test/probe.js";
import { runWithContext } from "../context/index.js";
import { fieldViolationsOf, ServiceError } from "../errors/index.js";
import {
  createGrpcServer,
  createServiceClient,
  grpcTarget,
  type ServiceClient,
  type ServiceClientOptions,
} from "./index.js";

const { logger } = captureLogger("client-test");
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Probe = ServiceClient<typeof ProbeService>;

/** Starts an in-process ProbeService; `next` (if given) is where its Relay goes. */
async function startProbe(nextOptions?: Omit<ServiceClientOptions, "logger" | "upstream">) {
  const next = nextOptions
    ? createServiceClient(ProbeService, { upstream: "next", logger, ...nextOptions })
    : undefined;
  const { handlers, stats } = probeHandlers(next, logger);
  const server = createGrpcServer({
    serviceName: "probe",
    logger,
    services: [{ service: ProbeService, handlers }],
    port: 0,
    adminPort: 0,
    drainDelayMs: 0,
    shutdownGraceMs: 500,
  });
  const { port } = await server.start();
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= server.stop();
    return stopped;
  };
  cleanups.push(async () => {
    next?.$close();
    await stop();
  });
  return { address: `127.0.0.1:${port}`, stats, next, stop };
}

function client(address: string, options: Partial<ServiceClientOptions> = {}): Probe {
  const created = createServiceClient(ProbeService, { upstream: "probe", address, logger, ...options });
  cleanups.push(() => created.$close());
  return created;
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ServiceError);
    return error as ServiceError;
  }
  throw new Error("expected the call to fail");
}

describe("createServiceClient", () => {
  it("sends the inbound request id, user and a deadline capped by the inbound one", async () => {
    const c = await startProbe();
    const seen: Record<string, string | undefined> = {};
    // The two deadlines differ by far more than any call can take, and the lower bounds below come
    // from each call's own duration, not from a guess at how fast the machine is: the upstream saw
    // the deadline it was given (less than what the call took) and no later one.
    const defaultDeadlineMs = 60_000;
    const inboundMs = 10_000;
    const probe = client(c.address, { defaultDeadlineMs });
    let started = Date.now();
    const answer = await runWithContext(
      { requestId: "inbound-1", deadline: started + inboundMs, userId: "u1", role: "admin" },
      () => probe.echo({ message: "ctx" }),
    );
    expect(answer.requestId).toBe("inbound-1");
    expect(Number(answer.deadlineRemainingMs)).toBeLessThanOrEqual(inboundMs);
    expect(Number(answer.deadlineRemainingMs)).toBeGreaterThanOrEqual(inboundMs - (Date.now() - started));

    started = Date.now();
    const outside = await probe.echo({ message: "no ctx" });
    expect(Number(outside.deadlineRemainingMs)).toBeLessThanOrEqual(defaultDeadlineMs);
    expect(Number(outside.deadlineRemainingMs)).toBeGreaterThanOrEqual(
      defaultDeadlineMs - (Date.now() - started),
    );
    expect(Number(outside.deadlineRemainingMs)).toBeGreaterThan(inboundMs);

    // Echo does not report user metadata, so a bare server records what arrives.
    const bare = new grpc.Server();
    bare.addService(
      {
        echo: {
          path: "/mercato.testing.v1.ProbeService/Echo",
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      {
        echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          for (const key of ["x-request-id", "x-user-id", "x-user-role"])
            seen[key] = call.metadata.get(key)[0] as string;
          callback(null, Buffer.alloc(0));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      bare.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => void bare.forceShutdown());
    await runWithContext({ requestId: "inbound-2", userId: "u2", role: "customer" }, () =>
      client(`127.0.0.1:${port}`).echo({}),
    );
    expect(seen).toEqual({ "x-request-id": "inbound-2", "x-user-id": "u2", "x-user-role": "customer" });
  });

  it("carries the caller's deadline across hops and cancels the last hop's work when it passes", async () => {
    const c = await startProbe();
    const b = await startProbe({ address: c.address, retry: false });
    const edge = createGrpcClient(ProbeService, b.address);
    cleanups.push(() => edge.$close());

    // B's own client default (5 s) is longer than the caller's 4 s: C must see the caller's, less
    // whatever the call took on the way (measured, so a slow machine cannot fail it).
    const callerMs = 4_000;
    let started = Date.now();
    const answer = await edge.relay({ echo: { message: "deep" }, hops: 0 }, { deadline: started + callerMs });
    expect(Number(answer.echo?.deadlineRemainingMs)).toBeLessThanOrEqual(callerMs);
    expect(Number(answer.echo?.deadlineRemainingMs)).toBeGreaterThanOrEqual(
      callerMs - (Date.now() - started),
    );

    // The last hop would take 30 s; the caller's 300 ms deadline ends the call instead. How long after
    // 300 ms depends on the machine, so the bound is the work it was spared: far less than 30 s.
    const delayMs = 30_000;
    started = Date.now();
    await expect(
      edge.relay({ echo: { delayMs }, hops: 0 }, { deadline: started + 300 }),
    ).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
    });
    expect(Date.now() - started).toBeLessThan(delayMs / 3);
    // C's handler saw its signal abort: the deadline reached it and stopped its work.
    await expect.poll(() => c.stats.aborted, { timeout: 10_000 }).toBe(1);
  });

  it("surfaces the upstream's code, message and field violations", async () => {
    const c = await startProbe();
    const probe = client(c.address);
    const error = await failure(probe.echo({ failCode: grpc.status.INVALID_ARGUMENT }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(error)).toHaveLength(2);
    expect((await failure(probe.echo({ failCode: grpc.status.INTERNAL }))).message).toBe("internal error");
  });

  it("retries a read on UNAVAILABLE only, and not at all under istio", async () => {
    const c = await startProbe();
    const retry = { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 5 };
    const probe = client(c.address, { retry, breaker: false });
    expect((await failure(probe.echo({ failCode: grpc.status.UNAVAILABLE }))).code).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect(c.stats.echoCalls).toBe(3);
    expect((await failure(probe.echo({ failCode: grpc.status.NOT_FOUND }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await failure(probe.echo({ failCode: grpc.status.RESOURCE_EXHAUSTED }))).code).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );
    expect(c.stats.echoCalls).toBe(5);

    const meshed = client(c.address, { retry, breaker: false, mesh: "istio" });
    await failure(meshed.echo({ failCode: grpc.status.UNAVAILABLE }));
    expect(c.stats.echoCalls).toBe(6);
  });

  it("opens the breaker after failures, fails fast while open, closes after a good probe", async () => {
    const c = await startProbe();
    const probe = client(c.address, {
      retry: false,
      breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 300 },
    });
    // Caller errors do not count against the upstream.
    for (let i = 0; i < 6; i++) await failure(probe.echo({ failCode: grpc.status.NOT_FOUND }));
    expect(probe.$breaker?.state).toBe("closed");

    for (let i = 0; i < 10 && probe.$breaker?.state === "closed"; i++) {
      await failure(probe.echo({ failCode: grpc.status.UNAVAILABLE }));
    }
    expect(probe.$breaker?.state).toBe("open");

    // "Fast" is judged against the call it replaces: the upstream would hold this one for 2 s (and the
    // upstream's call count shows it was never asked), not against a fixed number of milliseconds
    // that a busy machine can miss.
    const callsWhenOpened = c.stats.echoCalls;
    const started = performance.now();
    const fast = await failure(probe.echo({ message: "while open", delayMs: 2_000 }));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(fast.code).toBe(grpc.status.UNAVAILABLE);
    expect(fast.message).toBe("circuit open for probe");
    expect(c.stats.echoCalls).toBe(callsWhenOpened);

    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(probe.$breaker?.state).toBe("halfOpen");
    expect((await probe.echo({ message: "probe" })).message).toBe("probe");
    expect(probe.$breaker?.state).toBe("closed");
    expect(c.stats.echoCalls).toBe(callsWhenOpened + 1);
  });

  it("closes an open breaker as soon as the upstream is connected again, before its reset time", async () => {
    const first = await startProbe();
    const port = Number(first.address.split(":")[1]);
    const probe = client(first.address, {
      retry: false,
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 10 * 60_000 },
    });
    expect((await probe.echo({ message: "up" })).message).toBe("up");
    await first.stop();
    for (let i = 0; i < 10 && probe.$breaker?.state === "closed"; i++) await failure(probe.echo({}));
    expect(probe.$breaker?.state).toBe("open");
    expect((await failure(probe.echo({}))).message).toBe("circuit open for probe");

    // The upstream comes back (a restart: same address). Its reset time alone would keep the circuit
    // open for ten minutes; the new connection closes it.
    const { handlers } = probeHandlers(undefined, logger);
    const again = createGrpcServer({
      serviceName: "probe",
      logger,
      services: [{ service: ProbeService, handlers }],
      port,
      adminPort: 0,
      drainDelayMs: 0,
      shutdownGraceMs: 500,
    });
    await again.start();
    cleanups.push(() => again.stop());
    await expect.poll(() => probe.$breaker?.state, { timeout: 45_000, interval: 50 }).toBe("closed");
    expect((await probe.echo({ message: "back" })).message).toBe("back");
  });

  it("refuses calls over the concurrency limit with RESOURCE_EXHAUSTED, or queues them until the deadline", async () => {
    const c = await startProbe();
    const probe = client(c.address, { maxConcurrency: 2, retry: false, breaker: false });
    const slow = [probe.echo({ delayMs: 200 }), probe.echo({ delayMs: 200 })];
    const refused = await failure(probe.echo({ message: "third" }));
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await Promise.all(slow);

    const queued = client(c.address, { maxConcurrency: 1, maxQueue: 1, retry: false, breaker: false });
    const first = queued.echo({ delayMs: 100 });
    const second = queued.echo({ message: "waited" });
    expect((await second).message).toBe("waited");
    await first;
    const blocker = queued.echo({ delayMs: 400 });
    const timedOut = await failure(queued.echo({ message: "late" }, { timeoutMs: 100 }));
    expect(timedOut.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await blocker;
  });

  it("keeps retries bounded by the budget across a chain A→B→C when C is UNAVAILABLE", async () => {
    const requests = 50;
    const retry = { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 4 };
    const measure = async (budget: { budgetRatio: number; budgetMinRetries: number }) => {
      const c = await startProbe();
      const b = await startProbe({ address: c.address, retry: { ...retry, ...budget }, breaker: false });
      const a = await startProbe({ address: b.address, retry: { ...retry, ...budget }, breaker: false });
      const edge = createGrpcClient(ProbeService, a.address);
      cleanups.push(() => edge.$close());
      for (let i = 0; i < requests; i++) {
        await expect(
          edge.relay({ echo: { failCode: grpc.status.UNAVAILABLE }, hops: 1 }),
        ).rejects.toMatchObject({
          code: grpc.status.UNAVAILABLE,
        });
      }
      return c.stats.echoCalls;
    };
    const unbounded = await measure({ budgetRatio: 100, budgetMinRetries: 100_000 });
    const budgeted = await measure({ budgetRatio: 0.1, budgetMinRetries: 2 });
    // Without a budget attempts multiply per hop: 3 × 3.
    expect(unbounded).toBe(requests * 9);
    // With one: A sends ≤ N(1+r)+m to B, and B sends ≤ (that)(1+r)+m to C.
    const bound = Math.floor((requests * 1.1 + 2) * 1.1 + 2);
    expect(budgeted).toBeLessThanOrEqual(bound);
    expect(budgeted).toBeGreaterThanOrEqual(requests);
    logger.info({ requests, unbounded, budgeted, bound }, "retry amplification A→B→C");
    process.stdout.write(
      `retry amplification: ${requests} requests → C got ${unbounded} without budget, ${budgeted} with (bound ${bound})\n`,
    );
  });
});

describe("replicated upstreams", () => {
  it("turns addresses into grpc-js targets", () => {
    expect(grpcTarget("inventory:50053")).toBe("dns:///inventory:50053");
    expect(grpcTarget("dns:///inventory.shop.svc.cluster.local:50053")).toBe(
      "dns:///inventory.shop.svc.cluster.local:50053",
    );
    expect(grpcTarget("127.0.0.1:1, 127.0.0.1:2")).toBe("ipv4:127.0.0.1:1,127.0.0.1:2");
    expect(grpcTarget("ipv4:127.0.0.1:1,127.0.0.1:2")).toBe("ipv4:127.0.0.1:1,127.0.0.1:2");
    expect(() => grpcTarget("inventory-0:1,inventory-1:1")).toThrow(
      /"inventory-0:1", "inventory-1:1" is not/,
    );
    expect(() => grpcTarget(" ")).toThrow(/empty/);
  });

  it("spreads calls round-robin over replicas and routes around a dead one", async () => {
    const replicas = [await startProbe(), await startProbe(), await startProbe()];
    const probe = client(replicas.map((r) => r.address).join(","), { breaker: false });
    // Until every replica has taken a call, the channel may still be connecting to some of them.
    for (let i = 0; i < 200 && replicas.some((r) => r.stats.echoCalls === 0); i++) await probe.echo({});
    const before = replicas.map((r) => r.stats.echoCalls);
    for (let i = 0; i < 30; i++) await probe.echo({});
    expect(replicas.map((r, i) => r.stats.echoCalls - (before[i] as number))).toEqual([10, 10, 10]);

    const [dead, ...alive] = replicas as [(typeof replicas)[0], ...typeof replicas];
    await dead.stop();
    const deadCalls = dead.stats.echoCalls;
    const aliveBefore = alive.map((r) => r.stats.echoCalls);
    for (let i = 0; i < 30; i++) await probe.echo({ message: `after ${i}` });
    expect(dead.stats.echoCalls).toBe(deadCalls);
    const served = alive.map((r, i) => r.stats.echoCalls - (aliveBefore[i] as number));
    expect(served[0]! + served[1]!).toBe(30);
    expect(Math.min(...served)).toBeGreaterThanOrEqual(10);
  });
});
