import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { startTcpBalancer, type TcpBalancer } from "./balancer.js";
import { serviceCommand } from "./launch.js";
import { localIdentityKek } from "./local-secrets.js";
import { freePort } from "./names.js";
import { type NatsServer, startNats } from "./nats.js";
import { type SpawnedProcess, spawnProcess } from "./process.js";
import { defaultRestartPolicy, type RestartPolicy, Supervisor, type SupervisorHooks } from "./supervise.js";
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

/** The gateway or a backend service: what {@link SystemOptions.replicas} counts. */
export type SystemComponent = ServiceName | "gateway";

/**
 * The name of one process of `component`: the component's own name when it runs once, `<name>-<n>`
 * (n from 1) when it runs as several replicas.
 */
export function replicaName(component: SystemComponent, replica: number, replicas: number): string {
  return replicas === 1 ? component : `${component}-${replica}`;
}

/**
 * Parses a replica list such as `order=3,payment=2,gateway=2` (the `--replicas` option of `pnpm start`).
 *
 * @throws on an unknown component or a count that is not a whole number from 1 to 9
 */
export function parseReplicas(list: string): Partial<Record<SystemComponent, number>> {
  const known = new Set<string>([...serviceNames, "gateway"]);
  const replicas: Partial<Record<SystemComponent, number>> = {};
  for (const item of list.split(",").map((entry) => entry.trim())) {
    if (item === "") continue;
    const match = /^([a-z]+)=(\d+)$/.exec(item);
    if (!match) throw new Error(`replicas: "${item}" is not <service>=<count>`);
    const [, name, count] = match as unknown as [string, string, string];
    if (!known.has(name))
      throw new Error(`replicas: unknown service "${name}" (one of ${[...known].join(", ")})`);
    const value = Number(count);
    if (value < 1 || value > 9) throw new Error(`replicas: ${name}=${count} is outside 1–9`);
    replicas[name as SystemComponent] = value;
  }
  return replicas;
}

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
  /**
   * A PostgreSQL server URL; each service gets its own database `mercato_<service>` on it. Services
   * need one (`pnpm start` starts a local cluster); without it they stop with "DATABASE_URL is required".
   */
  readonly databaseUrl?: string;
  /** Prefix of the per-service database names (default "mercato"); tests pass a unique one. */
  readonly databasePrefix?: string;
  /** Directory for the local nats-server store (default `<repo>/.data`). */
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
  /**
   * Restart crashed processes (`pnpm start`): with back-off, giving up on one that keeps crashing
   * (`true` for {@link defaultRestartPolicy}). Off by default: tests that kill processes restart them
   * themselves.
   */
  readonly supervise?: boolean | Partial<RestartPolicy>;
  /** What the supervisor does (restarting, restarted, given up). */
  readonly supervisorHooks?: SupervisorHooks;
  /**
   * Processes per component (default 1 each, at most 9). A service's callers get every replica's
   * address (`ip:port,ip:port`) and spread calls over them; gateway replicas sit behind one local
   * balancer on the gateway port, each told `GATEWAY_REPLICAS`. With fixed ports, replica n of a
   * service listens on its default port + 10·(n−1) (admin likewise), gateway replica n on the
   * gateway port + n (admin 9080 − n).
   */
  readonly replicas?: Partial<Record<SystemComponent, number>>;
}

/** One running process of the system. */
export interface SystemProcess {
  /** The process's name: see {@link replicaName}. */
  readonly name: string;
  /** The component it is a replica of. */
  readonly component: SystemComponent;
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
  /** Processes by name ("identity", …, "gateway"; "order-1", "order-2", … for replicas). */
  readonly processes: ReadonlyMap<string, SystemProcess>;
  /** The current processes of one component, replica 1 first. */
  replicasOf(component: SystemComponent): SystemProcess[];
  /** `127.0.0.1:PORT` of a service's gRPC server; `127.0.0.1:P1,127.0.0.1:P2,…` for replicas. */
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
 * the gateway, each run by {@link serviceCommand} (a bundle, rebuilt when stale), and waits until each
 * answers `/readyz` on its admin port.
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

  const replicaCount = (component: SystemComponent) => options.replicas?.[component] ?? 1;
  // freePort can hand out a port twice when asked many times in a row: keep this system's distinct.
  const taken = new Set<number>();
  const distinctFreePort = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const gatewayPort = options.fixedPorts ? (options.gatewayPort ?? 8080) : await distinctFreePort();
  /** Every process to run: its component and ports, by process name. */
  const instances = new Map<string, { component: SystemComponent; grpc: number; admin: number }>();
  const components: SystemComponent[] = withGateway ? [...services, "gateway"] : [...services];
  for (const component of components) {
    const count = replicaCount(component);
    if (!Number.isInteger(count) || count < 1 || count > 9)
      throw new Error(`startSystem: ${component} replicas must be 1–9, not ${count}`);
    for (let replica = 1; replica <= count; replica++) {
      let grpc: number;
      let admin: number;
      if (component === "gateway" && count === 1) {
        grpc = gatewayPort;
        admin = options.fixedPorts ? 9080 : await distinctFreePort();
      } else if (!options.fixedPorts) {
        grpc = await distinctFreePort();
        admin = await distinctFreePort();
      } else if (component === "gateway") {
        grpc = gatewayPort + replica;
        admin = 9080 - replica;
      } else {
        grpc = defaultPorts[component] + 10 * (replica - 1);
        admin = defaultPorts[component] - 50051 + 9101 + 10 * (replica - 1);
      }
      instances.set(replicaName(component, replica, count), { component, grpc, admin });
    }
  }
  const instancesOf = (component: SystemComponent) =>
    [...instances].filter(([, instance]) => instance.component === component);
  const databaseUrls = options.databaseUrl
    ? await ensureDatabases(options.databaseUrl, options.databasePrefix ?? "mercato", services)
    : undefined;

  const addressOf = (component: ServiceName) =>
    instancesOf(component)
      .map(([, instance]) => `127.0.0.1:${instance.grpc}`)
      .join(",");
  const addresses: Record<string, string> = {};
  for (const name of services) addresses[`${name.toUpperCase()}_ADDRESS`] = addressOf(name);

  const processes = new Map<string, SystemProcess>();
  /** Processes stopped on purpose (restart, stop): their exit is no crash. */
  const intentional = new WeakSet<SpawnedProcess>();
  let stopping = false;
  const identityKek =
    options.serviceEnv?.identity?.IDENTITY_KEK ?? options.env?.IDENTITY_KEK ?? localIdentityKek(dataDir);

  const environmentFor = (name: string): Record<string, string> => {
    const { component, ...port } = instances.get(name)!;
    const env: Record<string, string> = {
      ...addresses,
      NATS_URL: natsUrl!,
      ADMIN_PORT: String(port.admin),
      ...(component === "gateway" ? { GATEWAY_REPLICAS: String(replicaCount("gateway")) } : {}),
      ...(component === "identity" ? { IDENTITY_KEK: identityKek } : {}),
      ...options.env,
      ...options.serviceEnv?.[component],
    };
    if (component === "gateway") {
      env.PORT = String(port.grpc);
    } else {
      env.GRPC_PORT = String(port.grpc);
      const databaseUrl = databaseUrls?.get(component);
      if (databaseUrl) env.DATABASE_URL = databaseUrl;
    }
    return env;
  };

  const launch = async (name: string): Promise<void> => {
    const startedAt = Date.now();
    const instance = instances.get(name);
    if (!instance) throw new Error(`startSystem: no process named ${name}`);
    const { component } = instance;
    const entry =
      component === "gateway"
        ? join(root, "gateway/src/main.ts")
        : join(root, "services", component, "src/main.ts");
    const child = spawnProcess(...(await serviceCommand(entry)), {
      cwd: root,
      env: environmentFor(name),
      exitSignal: "SIGKILL",
    });
    const port = { grpc: instance.grpc, admin: instance.admin };
    processes.set(name, { name, component, grpcPort: port.grpc, adminPort: port.admin, process: child });
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
      if (stopping || intentional.has(child) || processes.get(name)?.process !== child) return;
      options.onCrash?.(name, code, child.output().slice(-4000));
      supervisor?.crashed(name, startedAt);
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

  const policy = options.supervise === true ? defaultRestartPolicy : options.supervise;
  const supervisor = policy
    ? new Supervisor({ ...defaultRestartPolicy, ...policy }, options.supervisorHooks ?? {}, (name) =>
        launch(name).catch(async (error: unknown) => {
          // Not ready in time: end it, and its exit counts as the next crash.
          const current = processes.get(name)?.process;
          if (current?.running) await current.kill("SIGKILL");
          throw error;
        }),
      )
    : undefined;

  let balancer: TcpBalancer | undefined;
  const stop = async (): Promise<void> => {
    stopping = true;
    supervisor?.stop();
    const all = [...processes.values()];
    await Promise.all(all.filter((p) => p.component === "gateway").map((p) => p.process.stop(10_000)));
    await balancer?.close();
    await Promise.all(all.filter((p) => p.component !== "gateway").map((p) => p.process.stop(10_000)));
    await nats?.stop();
  };

  const namesOf = (component: SystemComponent) => instancesOf(component).map(([name]) => name);
  try {
    // Upstream-first order, but independent services start side by side to keep start-up quick.
    const firstWave = services.filter((name) => name !== "order").flatMap(namesOf);
    await Promise.all(firstWave.map(launch));
    if (services.includes("order")) await Promise.all(namesOf("order").map(launch));
    if (withGateway) {
      await Promise.all(namesOf("gateway").map(launch));
      if (replicaCount("gateway") > 1) {
        balancer = await startTcpBalancer({
          port: gatewayPort,
          targets: instancesOf("gateway").map(([, instance]) => `127.0.0.1:${instance.grpc}`),
        });
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    gatewayUrl: withGateway ? `http://127.0.0.1:${gatewayPort}` : undefined,
    natsUrl,
    nats,
    processes,
    replicasOf: (component) =>
      namesOf(component)
        .map((name) => processes.get(name))
        .filter((p): p is SystemProcess => p !== undefined),
    address: addressOf,
    async restart(name) {
      const current = processes.get(name);
      if (current) intentional.add(current.process);
      if (current?.process.running) await current.process.stop(10_000);
      await launch(name);
    },
    stop,
  };
}
