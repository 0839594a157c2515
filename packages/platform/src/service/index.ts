import type { DescFile } from "@bufbuild/protobuf";
import { connect, type JetStreamClient, type NatsConnection } from "nats";
import type { ConfigOf, serviceSettings } from "../config/index.js";
import { connectDatabase, type Database, type DbSchema, migrate } from "../db/index.js";
import {
  deadLetterStream,
  defineStream,
  ensureStreams,
  eventsMigrations,
  type OutboxRelay,
  type StreamDefinition,
  startOutboxRelay,
} from "../events/index.js";
import { createGrpcServer, type ServiceRegistration } from "../grpc/index.js";
import { createLogger, type Logger } from "../log/index.js";
import { labelMetricsWithService } from "../metrics/index.js";
import { startTelemetry } from "../telemetry/index.js";

/** The shared settings every service config has (see `serviceSettings`). */
export type BaseConfig = ConfigOf<ReturnType<typeof serviceSettings>>;

/** The stream that carries a domain's events: `MERCATO_<DOMAIN>` on `mercato.<domain>.>`. */
export function domainStream(domain: string): StreamDefinition {
  return defineStream({
    name: `MERCATO_${domain.toUpperCase()}`,
    subjects: [`mercato.${domain}.>`],
    description: `Events of the ${domain} domain`,
  });
}

/** What a service's `build` gets: everything `runService` connected for it. */
export interface ServiceDeps<S extends DbSchema, C extends BaseConfig> {
  readonly config: C;
  readonly logger: Logger;
  readonly database: Database<S>;
  readonly nats: NatsConnection;
  readonly js: JetStreamClient;
}

/** Something a service runs beside its RPCs (consumers, sweepers); stopped at shutdown before the database closes. */
export interface BackgroundTask {
  stop(): Promise<void>;
}

/** What a service's `build` returns. */
export interface ServiceParts {
  /** The gRPC services with their handlers. */
  readonly services: readonly ServiceRegistration[];
  /** Extra descriptor files for reflection. */
  readonly files?: readonly DescFile[];
  /** Starts background work once the server is up (consumers, sweepers, seeding). */
  readonly start?: () => Promise<readonly BackgroundTask[]>;
}

/** Everything {@link runService} needs to know about one service. */
export interface ServiceSpec<S extends DbSchema, C extends BaseConfig> {
  readonly config: C;
  /** drizzle schema of the service's own tables. */
  readonly schema: S;
  /** Folder of the service's drizzle-kit migrations (applied after the platform's outbox/inbox ones). */
  readonly migrationsFolder: string;
  /** Streams the service publishes to or consumes from; the DLQ stream is always ensured. */
  readonly streams: readonly StreamDefinition[];
  /** Builds handlers and background work from the connected dependencies. */
  readonly build: (deps: ServiceDeps<S, C>) => ServiceParts | Promise<ServiceParts>;
  /** Logger to use instead of a new one (tests pass one that writes to a buffer). */
  readonly logger?: Logger;
}

/** A running service. */
export interface RunningService<S extends DbSchema> {
  readonly port: number;
  readonly adminPort: number;
  readonly logger: Logger;
  readonly database: Database<S>;
  readonly nats: NatsConnection;
  /** Graceful stop: NOT_SERVING, drain calls, stop background work and the relay, drain NATS, close the database. */
  stop(): Promise<void>;
}

async function ensureStreamsWhenReachable(
  nats: NatsConnection,
  streams: readonly StreamDefinition[],
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      await ensureStreams(await nats.jetstreamManager(), streams);
      return;
    } catch (error) {
      logger.warn({ err: error, attempt }, "cannot provision streams yet; retrying");
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
}

/**
 * Starts a service the one way every Mercato service starts: telemetry, logger, PostgreSQL with
 * migrations, NATS with its streams provisioned, the outbox relay, the gRPC
 * server with health, reflection and the admin port, then the service's background work.
 * Tests call it with their own config (port 0, a test database); `main.ts` adds signal handling via
 * {@link stopOnSignals}.
 */
export async function runService<S extends DbSchema, C extends BaseConfig>(
  spec: ServiceSpec<S, C>,
): Promise<RunningService<S>> {
  const { config } = spec;
  startTelemetry({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  labelMetricsWithService(config.serviceName);
  const logger = spec.logger ?? createLogger({ service: config.serviceName, level: config.logLevel });

  const database = await connectDatabase({
    url: config.databaseUrl,
    schema: spec.schema,
    logger,
  });
  const applied = await migrate(database, [eventsMigrations, spec.migrationsFolder], { logger });
  if (applied > 0) logger.info({ applied }, "migrations applied");
  if (config.migrateOnly) {
    // The Kubernetes migration Job runs the image with MIGRATE_ONLY=true: migrate, then exit.
    await database.close();
    logger.info("migrations done; exiting (MIGRATE_ONLY)");
    process.exit(0);
  }

  // A broker that is down at start-up must not stop the service: writes go to the outbox and the
  // relay publishes once NATS is back.
  const nats = await connect({
    servers: config.natsUrl,
    name: config.serviceName,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  const js = nats.jetstream();
  const provisioning = new AbortController();
  const streamsReady = ensureStreamsWhenReachable(
    nats,
    [deadLetterStream, ...spec.streams],
    logger,
    provisioning.signal,
  );

  const relay: OutboxRelay = await startOutboxRelay({ database, js, logger });
  const parts = await spec.build({ config, logger, database, nats, js });
  const server = createGrpcServer({
    serviceName: config.serviceName,
    logger,
    services: parts.services,
    ...(parts.files ? { files: parts.files } : {}),
    host: config.grpcHost,
    port: config.grpcPort,
    adminPort: config.adminPort,
    shutdownGraceMs: config.shutdownGraceMs,
  });
  const ports = await server.start();
  await streamsReady;
  const background = parts.start ? await parts.start() : [];
  logger.info({ port: ports.port, adminPort: ports.adminPort }, `${config.serviceName} ready`);

  let stopping: Promise<void> | undefined;
  return {
    ...ports,
    logger,
    database,
    nats,
    stop() {
      stopping ??= (async () => {
        provisioning.abort();
        await server.stop();
        await Promise.allSettled(background.map((task) => task.stop()));
        await relay.stop();
        await nats.drain().catch(() => undefined);
        await database.close();
        logger.info("stopped");
      })();
      return stopping;
    },
  };
}

/**
 * Stops `service` on SIGTERM or SIGINT and exits: 0 after a clean stop, 1 if stopping failed.
 * A second signal exits at once.
 */
export function stopOnSignals(service: { stop(): Promise<void>; logger: Logger }): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) process.exit(1);
    received = true;
    service.logger.info({ signal }, "shutting down");
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        service.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/**
 * Runs `main`, and on a start-up failure logs one clear line and exits 1 (config errors list every
 * problem; nothing is half-started).
 */
export function startMain(main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
