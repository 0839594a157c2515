import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "./names.js";
import { type NatsServer, startNats } from "./nats.js";
import { type SpawnedProcess, spawnProcess } from "./process.js";
import { repoRoot } from "./tools.js";
import { waitFor } from "./wait.js";

/** Every backend service, in start order (upstreams first). */
export const serviceNames = [
  "identity",
  "catalog",
  "inventory",
  "payment",
  "shipping",
  "notification",
  "order",
] as const;

/** A backend service's name. */
export type ServiceName = (typeof serviceNames)[number];

/**
 * Default gRPC ports for local runs. Admin ports are 9101–9107 in the same order: the +1000 default
 * of Kubernetes (51051…) lies inside Linux's ephemeral port range, where a local outgoing connection
 * can already hold the port.
 */
export const defaultPorts: Readonly<Record<ServiceName, number>> = {
  identity: 50051,
  catalog: 50052,
  inventory: 50053,
  order: 50054,
  payment: 50055,
  shipping: 50056,
  notification: 50057,
};

/** Options for {@link startSystem}. */
export interface SystemOptions {
  /** Which services to run (default: all that exist in the tree). */
  readonly services?: readonly ServiceName[];
  /** Start the gateway too (default true). */
  readonly gateway?: boolean;
  /** Use fixed default ports (local runs) instead of free ones (tests). */
  readonly fixedPorts?: boolean;
  /** Gateway port when fixedPorts is set (default 8080). */
  readonly gatewayPort?: number;
  /** A PostgreSQL server URL; each service gets its own database `mercato_<service>` on it. Omit for PGlite. */
  readonly databaseUrl?: string;
  /** Prefix of the per-service database names (default "mercato"); tests pass a unique one. */
  readonly databasePrefix?: string;
  /** Directory for PGlite data and the local nats-server store (default `<repo>/.data`). */
  readonly dataDir?: string;
  /** Use this NATS instead of starting one. */
  readonly natsUrl?: string;
  /** Extra environment for every process (e.g. MERCATO_DEMO_ADMIN_PASSWORD, LOG_LEVEL). */
  readonly env?: Readonly<Record<string, string>>;
  /** Per-service extra environment. */
  readonly serviceEnv?: Partial<Record<ServiceName | "gateway", Readonly<Record<string, string>>>>;
  /** Called with every output line of every process (for `pnpm start`'s console). */
  readonly onOutput?: (process: string, line: string) => void;
  /** Called when a process exits while the system is meant to be running. */
  readonly onCrash?: (process: string, code: number | null, lastOutput: string) => void;
  /** Called when a process has become ready, with how long it took. */
  readonly onReady?: (process: string, elapsedMs: number) => void;
  /** How long to wait for each process to become ready (default 30 s). */
  readonly readyTimeoutMs?: number;
}

/** One running process of the system. */
export interface SystemProcess {
  readonly name: string;
  readonly grpcPort: number;
  readonly adminPort: number;
  /** The process; replaced when {@link RunningSystem.restart} starts it again. */
  readonly process: SpawnedProcess;
}

/** A running system started by {@link startSystem}. */
export interface RunningSystem {
  /** `http://127.0.0.1:PORT` of the gateway, when it runs. */
  readonly gatewayUrl: string | undefined;
  readonly natsUrl: string;
  /** The nats-server the system started (undefined when NATS_URL was given). */
  readonly nats: NatsServer | undefined;
  /** Processes by name ("identity", …, "gateway"). */
  readonly processes: ReadonlyMap<string, SystemProcess>;
  /** `127.0.0.1:PORT` of a service's gRPC server. */
  address(name: ServiceName): string;
  /** Starts a stopped or killed process again with the same ports and environment; waits until ready. */
  restart(name: string): Promise<void>;
  /** Stops every process (SIGTERM, then SIGKILL after a grace period) and the nats-server it started. */
  stop(): Promise<void>;
}

const decoder = (onLine: (line: string) => void) => {
  let pending = "";
  return (chunk: string) => {
    pending += chunk;
    let index = pending.indexOf("\n");
    while (index >= 0) {
      onLine(pending.slice(0, index));
      pending = pending.slice(index + 1);
      index = pending.indexOf("\n");
    }
  };
};

async function ensureDatabases(
  serverUrl: string,
  prefix: string,
  names: readonly string[],
): Promise<Map<string, string>> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const urls = new Map<string, string>();
  try {
    for (const name of names) {
      const database = `${prefix}_${name}`.toLowerCase();
      const [row] = await sql`select 1 as found from pg_database where datname = ${database}`;
      if (!row) await sql.unsafe(`create database "${database}"`);
      const url = new URL(serverUrl);
      url.pathname = `/${database}`;
      urls.set(name, url.toString());
    }
  } finally {
    await sql.end();
  }
  return urls;
}

async function isReady(adminPort: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Starts Mercato as local processes: a nats-server (unless `natsUrl` is given), every service, then
 * the gateway, each with `node --import tsx`, and waits until each answers `/readyz` on its admin port.
 * Used by `pnpm start` and by the whole-system tests, so both run the same wiring.
 */
export async function startSystem(options: SystemOptions = {}): Promise<RunningSystem> {
  const root = repoRoot();
  const dataDir = options.dataDir ?? join(root, ".data");
  mkdirSync(dataDir, { recursive: true });
  const services =
    options.services ??
    serviceNames.filter((name) => existsSync(join(root, "services", name, "src/main.ts")));
  const withGateway = options.gateway ?? true;

  let nats: NatsServer | undefined;
  let natsUrl = options.natsUrl;
  if (!natsUrl) {
    nats = await startNats({
      storeDir: join(dataDir, "nats"),
      ...(options.fixedPorts ? { port: 4222 } : {}),
    });
    natsUrl = nats.url;
  }

  const ports = new Map<string, { grpc: number; admin: number }>();
  for (const name of services) {
    ports.set(
      name,
      options.fixedPorts
        ? { grpc: defaultPorts[name], admin: defaultPorts[name] - 50051 + 9101 }
        : { grpc: await freePort(), admin: await freePort() },
    );
  }
  if (withGateway) {
    ports.set(
      "gateway",
      options.fixedPorts
        ? { grpc: options.gatewayPort ?? 8080, admin: 9080 }
        : { grpc: await freePort(), admin: await freePort() },
    );
  }
  const databaseUrls = options.databaseUrl
    ? await ensureDatabases(options.databaseUrl, options.databasePrefix ?? "mercato", services)
    : undefined;

  const addresses: Record<string, string> = {};
  for (const name of services)
    addresses[`${name.toUpperCase()}_ADDRESS`] = `127.0.0.1:${ports.get(name)!.grpc}`;

  const processes = new Map<string, SystemProcess>();
  let stopping = false;

  const environmentFor = (name: string): Record<string, string> => {
    const port = ports.get(name)!;
    const env: Record<string, string> = {
      ...addresses,
      NATS_URL: natsUrl!,
      ADMIN_PORT: String(port.admin),
      ...options.env,
      ...options.serviceEnv?.[name as ServiceName | "gateway"],
    };
    if (name === "gateway") {
      env.PORT = String(port.grpc);
    } else {
      env.GRPC_PORT = String(port.grpc);
      const databaseUrl = databaseUrls?.get(name);
      if (databaseUrl) env.DATABASE_URL = databaseUrl;
      else env.DATA_DIR = join(dataDir, name);
    }
    return env;
  };

  const launch = async (name: string): Promise<void> => {
    const startedAt = Date.now();
    const entry =
      name === "gateway" ? join(root, "gateway/src/main.ts") : join(root, "services", name, "src/main.ts");
    const child = spawnProcess(process.execPath, ["--enable-source-maps", "--import", "tsx", entry], {
      cwd: root,
      env: environmentFor(name),
      exitSignal: "SIGKILL",
    });
    const port = ports.get(name)!;
    processes.set(name, { name, grpcPort: port.grpc, adminPort: port.admin, process: child });
    if (options.onOutput) {
      const onLine = decoder((line) => options.onOutput?.(name, line));
      let seen = 0;
      const timer = setInterval(() => {
        const output = child.output();
        if (output.length > seen) onLine(output.slice(seen));
        seen = output.length;
      }, 50);
      void child.exited.then(() => {
        clearInterval(timer);
        const output = child.output();
        if (output.length > seen) onLine(`${output.slice(seen)}\n`);
      });
    }
    void child.exited.then((code) => {
      if (!stopping && processes.get(name)?.process === child)
        options.onCrash?.(name, code, child.output().slice(-4000));
    });
    try {
      await waitFor(
        async () => {
          if (!child.running) throw new Error(`${name} exited before it was ready`);
          return isReady(port.admin);
        },
        { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 100, failFast: true },
      );
    } catch (error) {
      throw new Error(
        `${name} did not become ready: ${(error as Error).message}\n${child.output().slice(-4000)}`,
      );
    }
    options.onReady?.(name, Date.now() - startedAt);
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    const running = [...processes.values()].reverse();
    if (withGateway && processes.has("gateway")) await processes.get("gateway")!.process.stop(10_000);
    await Promise.all(running.filter((p) => p.name !== "gateway").map((p) => p.process.stop(10_000)));
    await nats?.stop();
  };

  try {
    // Upstream-first order, but independent services start side by side to keep start-up quick.
    const firstWave = services.filter((name) => name !== "order");
    await Promise.all(firstWave.map(launch));
    if (services.includes("order")) await launch("order");
    if (withGateway) await launch("gateway");
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    gatewayUrl: withGateway ? `http://127.0.0.1:${ports.get("gateway")!.grpc}` : undefined,
    natsUrl,
    nats,
    processes,
    address: (name) => `127.0.0.1:${ports.get(name)!.grpc}`,
    async restart(name) {
      const current = processes.get(name);
      if (current?.process.running) await current.process.stop(10_000);
      await launch(name);
    },
    stop,
  };
}
