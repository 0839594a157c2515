import { fileURLToPath } from "node:url";
import { implement } from "@mercato/platform/grpc";
import type { BackgroundTask, ServiceDeps, ServiceParts, ServiceSpec } from "@mercato/platform/service";
import { file_mercato_identity_v1_events } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { IdentityService as IdentityServiceV1 } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { IdentityService as IdentityServiceV2 } from "@mercato/sdk/gen/mercato/identity/v2/identity_pb";
import { type IdentityConfig, kekRingOf } from "./config.js";
import { pruneLoginFailures } from "./db/login-failures.js";
import { pruneRefreshTokens } from "./db/refresh-tokens.js";
import { type IdentitySchema, schema } from "./db/schema.js";
import { KeyRing } from "./db/signing-keys.js";
import { loginFailureResetMs } from "./domain/rules.js";
import { identityStream } from "./events/publishers.js";
import { ensureConfiguredAdmin } from "./handlers/accounts.js";
import type { HandlerDeps } from "./handlers/deps.js";
import { createIdentityV1Handlers } from "./handlers/identity-v1.js";
import { createIdentityV2Handlers } from "./handlers/identity-v2.js";

/** Folder of identity's drizzle-kit migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Options for {@link build} beyond what runService connects. */
export interface BuildOptions {
  /** The time source (tests move it); default the system clock. */
  readonly clock?: () => Date;
}

/** How often the housekeeping timer runs: rotation checks, pruning. */
function housekeepingIntervalMs(config: IdentityConfig): number {
  return Math.min(60_000, Math.max(250, (config.signingKeyPeriodSeconds * 1000) / 4));
}

/**
 * Builds identity from its connected dependencies: ensures the signing keys and the configured
 * admin exist (before the server reports ready), serves v1 and v2 side by side, and runs a
 * housekeeping timer that rotates keys ahead of time and prunes expired keys, refresh tokens and
 * login-failure streaks.
 */
export async function build(
  deps: ServiceDeps<IdentitySchema, IdentityConfig>,
  options: BuildOptions = {},
): Promise<ServiceParts> {
  const { config, database, logger } = deps;
  const clock = options.clock ?? (() => new Date());
  const accessTokenTtlMs = config.accessTokenTtlSeconds * 1000;
  const keys = new KeyRing({
    database,
    logger,
    clock,
    policy: { signingPeriodMs: config.signingKeyPeriodSeconds * 1000, accessTokenTtlMs },
    audience: { issuer: config.jwtIssuer, audience: config.jwtAudience },
    keks: kekRingOf(config),
  });
  await keys.ensure();
  const handlerDeps: HandlerDeps = { config, database, logger, keys, clock };
  await ensureConfiguredAdmin(handlerDeps);

  const housekeeping = async () => {
    const now = clock();
    await keys.ensure(now);
    const keysPruned = await keys.prune(now);
    const tokensPruned = await pruneRefreshTokens(database.db, now);
    const streaksPruned = await pruneLoginFailures(
      database.db,
      new Date(now.getTime() - loginFailureResetMs),
    );
    if (keysPruned + tokensPruned + streaksPruned > 0) {
      logger.debug({ keysPruned, tokensPruned, streaksPruned }, "housekeeping");
    }
  };

  return {
    services: [
      implement(IdentityServiceV1, createIdentityV1Handlers(handlerDeps)),
      implement(IdentityServiceV2, createIdentityV2Handlers(handlerDeps)),
    ],
    files: [file_mercato_identity_v1_events],
    async start(): Promise<BackgroundTask[]> {
      let running: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        running = housekeeping().catch((error: unknown) =>
          logger.warn({ err: error }, "housekeeping failed"),
        );
      }, housekeepingIntervalMs(config));
      timer.unref();
      return [
        {
          async stop() {
            clearInterval(timer);
            await running;
          },
        },
      ];
    },
  };
}

/** Everything runService needs to run identity with `config`. */
export function identityService(
  config: IdentityConfig,
  options: BuildOptions = {},
): ServiceSpec<IdentitySchema, IdentityConfig> {
  return {
    config,
    schema,
    migrationsFolder,
    streams: [identityStream],
    build: (deps) => build(deps, options),
  };
}
