import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  databaseUrlOn,
  type RunningSystem,
  type ServiceName,
  type SystemOptions,
  sharedDatabaseUrl,
  startSystem,
  uniqueName,
} from "@mercato/testing";

/** The admin every e2e system is started with. */
export const admin = { email: "admin@e2e.test", password: "e2e-admin-password" };

/** A JSON response from the edge. */
export interface EdgeResponse {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes
  readonly body: any;
}

/** Options of {@link startE2eSystem}; every one is optional. */
export interface E2eSystemOptions {
  /** Prefix of the database names and of the temporary data folder (default "e2e"). */
  readonly name?: string;
  /** Extra environment for every process (added over the defaults). */
  readonly env?: Readonly<Record<string, string>>;
  /** Per-process extra environment. */
  readonly serviceEnv?: SystemOptions["serviceEnv"];
  /** Abort each `call` after this long (default: no limit); the call then rejects. */
  readonly requestTimeoutMs?: number;
  /** Processes per service and of the gateway (default one each). */
  readonly replicas?: SystemOptions["replicas"];
  /** Called with every output line of every process (e.g. to collect the logs). */
  readonly onOutput?: SystemOptions["onOutput"];
  /** Restart crashed processes the way `pnpm start` does (default off). */
  readonly supervise?: SystemOptions["supervise"];
  /** What the supervisor reports. */
  readonly supervisorHooks?: SystemOptions["supervisorHooks"];
}

/** A whole Mercato started for one test file, with a plain-HTTP client for its edge. */
export interface E2eSystem {
  readonly system: RunningSystem;
  readonly url: string;
  /** URL of a service's own database on the run's PostgreSQL (for tests that check its tables). */
  databaseUrl(service: ServiceName): string;
  /** POSTs Connect JSON to `/<service>/<method>`, with a bearer token when given. */
  call(path: string, body: unknown, token?: string, headers?: Record<string, string>): Promise<EdgeResponse>;
  /** Logs in and returns the access token. */
  login(email: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts every service and the gateway as real processes, on the run's PostgreSQL (one fresh database
 * per service) and a nats-server of its own, so test files never share streams or consumers.
 */
export async function startE2eSystem(options: E2eSystemOptions = {}): Promise<E2eSystem> {
  const name = options.name ?? "e2e";
  const dataDir = mkdtempSync(join(tmpdir(), `mercato-${name}-`));
  const serverUrl = sharedDatabaseUrl();
  const databasePrefix = uniqueName(name).toLowerCase();
  const system = await startSystem({
    databaseUrl: serverUrl,
    databasePrefix,
    dataDir,
    env: {
      LOG_LEVEL: "warn",
      IDENTITY_ADMIN_EMAIL: admin.email,
      IDENTITY_ADMIN_PASSWORD: admin.password,
      ...options.env,
    },
    // Whole-system tests sign up many users from one address; the edge's own tests cover its limits.
    serviceEnv: {
      ...options.serviceEnv,
      gateway: {
        RATE_LIMIT_STRICT: "10000/1m",
        RATE_LIMIT_DEFAULT: "100000/1m",
        RATE_LIMIT_LOOSE: "100000/1m",
        ...options.serviceEnv?.gateway,
      },
    },
    readyTimeoutMs: 60_000,
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    ...(options.replicas ? { replicas: options.replicas } : {}),
    ...(options.supervise ? { supervise: options.supervise } : {}),
    ...(options.supervisorHooks ? { supervisorHooks: options.supervisorHooks } : {}),
  });
  const url = system.gatewayUrl!;
  const call: E2eSystem["call"] = async (path, body, token, headers = {}) => {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: typeof body === "string" ? body : JSON.stringify(body),
      ...(options.requestTimeoutMs !== undefined
        ? { signal: AbortSignal.timeout(options.requestTimeoutMs) }
        : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  return {
    system,
    url,
    databaseUrl: (service) => databaseUrlOn(serverUrl, `${databasePrefix}_${service}`),
    call,
    async login(email, password) {
      const response = await call("/mercato.identity.v1.IdentityService/Login", { email, password });
      if (response.status !== 200) throw new Error(`login failed: ${JSON.stringify(response.body)}`);
      return response.body.accessToken as string;
    },
    async stop() {
      await system.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
