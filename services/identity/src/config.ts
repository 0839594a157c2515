import {
  ConfigError,
  type ConfigOf,
  integer,
  optionalText,
  loadConfig as parseConfig,
  type Setting,
  serviceSettings,
  text,
} from "@mercato/platform/config";
import { type Kek, type KekRing, kekRing, parseKek } from "./domain/kek.js";
import { checkEmail, checkPassword, normalizeEmail } from "./domain/rules.js";

/**
 * The KEK that seals signing keys: `<id>:<base64 of 32 bytes>`. Never defaulted; required to serve
 * (checked in {@link loadConfig}), not to migrate (the migration Job gets no secrets).
 */
function kek(variable: string): Setting<Kek | undefined> {
  return {
    variable,
    description: "key-encryption key for the signing keys at rest: <id>:<base64 of 32 bytes>",
    parse: (raw) => (raw === undefined || raw.trim() === "" ? undefined : parseKek(raw.trim())),
  };
}

/** Older KEKs, comma-separated: still opened, and re-sealed under the current one at start-up. */
function previousKeks(variable: string): Setting<readonly Kek[]> {
  return {
    variable,
    description: "retired key-encryption keys still accepted while keys are re-sealed: <id>:<key>,…",
    parse: (raw) =>
      Object.freeze(
        (raw ?? "")
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item !== "")
          .map(parseKek),
      ),
  };
}

/** Every setting of the identity service: the shared ones plus its own. */
export const identitySettings = {
  ...serviceSettings("identity", 50051),
  jwtIssuer: text("JWT_ISSUER", {
    default: "mercato-identity",
    description: "`iss` of access tokens; verifiers pin it",
  }),
  jwtAudience: text("JWT_AUDIENCE", { default: "mercato", description: "`aud` of access tokens" }),
  accessTokenTtlSeconds: integer("ACCESS_TOKEN_TTL_SECONDS", {
    default: 15 * 60,
    min: 30,
    max: 24 * 3600,
    description: "lifetime of access tokens",
  }),
  refreshTokenTtlSeconds: integer("REFRESH_TOKEN_TTL_SECONDS", {
    default: 14 * 24 * 3600,
    min: 60,
    description: "idle lifetime of a refresh token (each rotation issues a new one, within the family's age)",
  }),
  refreshFamilyMaxAgeSeconds: integer("REFRESH_FAMILY_MAX_AGE_SECONDS", {
    default: 30 * 24 * 3600,
    min: 60,
    description:
      "absolute lifetime of a session (refresh-token family) from its login, however often rotated",
  }),
  kek: kek("IDENTITY_KEK"),
  previousKeks: previousKeks("IDENTITY_PREVIOUS_KEKS"),
  signingKeyPeriodSeconds: integer("SIGNING_KEY_PERIOD_SECONDS", {
    default: 24 * 3600,
    min: 1,
    description: "how long one signing key signs before the next one takes over",
  }),
  adminEmail: optionalText("IDENTITY_ADMIN_EMAIL", "email of the admin ensured at start-up"),
  adminPassword: optionalText("IDENTITY_ADMIN_PASSWORD", "password of that admin when it is created"),
} as const;

/** The identity service's typed configuration. */
export type IdentityConfig = ConfigOf<typeof identitySettings>;

/**
 * Reads the configuration from `env` (the process environment by default: this is the only place
 * identity reads it). Besides each variable's own checks, the admin variables must come together,
 * with a valid email and a password that meets the policy, and no two KEKs may share an id.
 *
 * @throws ConfigError listing every problem
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): IdentityConfig {
  const config = parseConfig(identitySettings, env);
  const problems: string[] = [];
  const { adminEmail, adminPassword } = config;
  if ((adminEmail === undefined) !== (adminPassword === undefined)) {
    problems.push("IDENTITY_ADMIN_EMAIL and IDENTITY_ADMIN_PASSWORD must be set together");
  }
  if (adminEmail !== undefined) {
    for (const v of checkEmail(adminEmail)) problems.push(`IDENTITY_ADMIN_EMAIL ${v.description}`);
  }
  if (adminEmail !== undefined && adminPassword !== undefined) {
    for (const v of checkPassword(adminPassword, adminEmail)) {
      problems.push(`IDENTITY_ADMIN_PASSWORD ${v.description}`);
    }
  }
  if (config.kek === undefined) {
    if (!config.migrateOnly) problems.push("IDENTITY_KEK is required (<id>:<base64 of 32 bytes>)");
  } else {
    try {
      kekRing(config.kek, config.previousKeks);
    } catch (error) {
      problems.push(`IDENTITY_PREVIOUS_KEKS: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return adminEmail === undefined
    ? config
    : Object.freeze({ ...config, adminEmail: normalizeEmail(adminEmail) });
}

/** The KEK ring of a configuration that serves (loadConfig refused one without IDENTITY_KEK). */
export function kekRingOf(config: IdentityConfig): KekRing {
  if (config.kek === undefined)
    throw new ConfigError(["IDENTITY_KEK is required (<id>:<base64 of 32 bytes>)"]);
  return kekRing(config.kek, config.previousKeks);
}
