/**
 * Typed configuration parsed once from the environment. Each service declares a schema in its
 * `config.ts`; {@link loadConfig} reads every variable, collects every problem, and throws one
 * {@link ConfigError} listing them all, so a bad deployment fails at start-up with one message.
 */

/** One variable's parser. `parse` returns the value or throws an Error whose message says what is wrong. */
export interface Setting<T> {
  readonly variable: string;
  readonly description: string;
  readonly parse: (raw: string | undefined) => T;
}

/** A map from config keys to their settings. */
export type Schema = Record<string, Setting<unknown>>;

/** The typed object a schema produces. */
export type ConfigOf<S extends Schema> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

/** Thrown by {@link loadConfig}; `problems` has one line per bad or missing variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Options<T> = { readonly default?: T; readonly description?: string };

function setting<T>(variable: string, options: Options<T>, convert: (raw: string) => T): Setting<T> {
  return {
    variable,
    description: options.description ?? variable,
    parse(raw) {
      if (raw === undefined || raw === "") {
        if (options.default !== undefined) return options.default;
        throw new Error("is required");
      }
      return convert(raw);
    },
  };
}

/** A string variable. */
export function text(variable: string, options: Options<string> = {}): Setting<string> {
  return setting(variable, options, (raw) => raw);
}

/** An optional string variable: undefined when unset or empty. */
export function optionalText(variable: string, description?: string): Setting<string | undefined> {
  return {
    variable,
    description: description ?? variable,
    parse: (raw) => (raw === undefined || raw === "" ? undefined : raw),
  };
}

/** An integer variable within [min, max]. */
export function integer(
  variable: string,
  options: Options<number> & { readonly min?: number; readonly max?: number } = {},
): Setting<number> {
  return setting(variable, options, (raw) => {
    if (!/^-?\d+$/.test(raw)) throw new Error(`must be an integer, got "${raw}"`);
    const value = Number(raw);
    if (options.min !== undefined && value < options.min) throw new Error(`must be at least ${options.min}`);
    if (options.max !== undefined && value > options.max) throw new Error(`must be at most ${options.max}`);
    return value;
  });
}

/** A TCP port (0 lets the OS choose, for tests). */
export function port(variable: string, options: Options<number> = {}): Setting<number> {
  return integer(variable, { ...options, min: 0, max: 65535 });
}

/** A boolean variable: true/false/1/0/yes/no. */
export function flag(variable: string, options: Options<boolean> = {}): Setting<boolean> {
  return setting(variable, options, (raw) => {
    const value = raw.toLowerCase();
    if (["true", "1", "yes"].includes(value)) return true;
    if (["false", "0", "no"].includes(value)) return false;
    throw new Error(`must be true or false, got "${raw}"`);
  });
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(
  variable: string,
  values: readonly T[],
  options: Options<T> = {},
): Setting<T> {
  return setting(variable, options, (raw) => {
    if (!(values as readonly string[]).includes(raw)) {
      throw new Error(`must be one of ${values.join(", ")}, got "${raw}"`);
    }
    return raw as T;
  });
}

/** A URL variable whose scheme is one of `protocols` (e.g. ["postgres:", "postgresql:"]). */
export function url(
  variable: string,
  protocols: readonly string[],
  options: Options<string> = {},
): Setting<string> {
  return setting(variable, options, (raw) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new Error("must be a URL");
    }
    if (!protocols.includes(parsed.protocol)) throw new Error(`must use ${protocols.join(" or ")}`);
    return raw;
  });
}

/** Like {@link url} but optional: undefined when unset or empty. */
export function optionalUrl(variable: string, protocols: readonly string[]): Setting<string | undefined> {
  const inner = url(variable, protocols);
  return {
    variable,
    description: variable,
    parse: (raw) => (raw === undefined || raw === "" ? undefined : inner.parse(raw)),
  };
}

/**
 * Parses `env` against `schema`. Throws a {@link ConfigError} naming every bad or missing
 * variable at once. The only place a process reads its environment.
 */
export function loadConfig<S extends Schema>(
  schema: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConfigOf<S> {
  const problems: string[] = [];
  const result: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(schema)) {
    try {
      result[key] = entry.parse(env[entry.variable]);
    } catch (error) {
      problems.push(`${entry.variable} ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(result) as ConfigOf<S>;
}

/**
 * Settings every service shares: ports, log level, mesh mode, database, NATS and telemetry.
 * Spread into a service's own schema: `loadConfig({ ...serviceSettings("catalog", 50052), ... })`.
 */
export function serviceSettings(service: string, defaultGrpcPort: number) {
  return {
    serviceName: text("SERVICE_NAME", { default: service }),
    grpcHost: text("GRPC_HOST", { default: "127.0.0.1" }),
    grpcPort: port("GRPC_PORT", { default: defaultGrpcPort }),
    adminPort: port("ADMIN_PORT", { default: defaultGrpcPort + 1000 }),
    logLevel: oneOf("LOG_LEVEL", ["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
      default: "info",
    }),
    mesh: oneOf("MESH", ["none", "istio"], { default: "none" }),
    databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"]),
    natsUrl: text("NATS_URL", { default: "nats://127.0.0.1:4222" }),
    otlpEndpoint: optionalUrl("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]),
    shutdownGraceMs: integer("SHUTDOWN_GRACE_MS", { default: 10_000, min: 0 }),
    migrateOnly: flag("MIGRATE_ONLY", { default: false }),
  } as const;
}
