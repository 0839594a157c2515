/**
 * Test support for identity's tests: starts the real service in-process (runService, port 0) against
 * a fresh PostgreSQL database and the run's nats-server, with typed gRPC clients.
 */
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { type Metadata, status } from "@grpc/grpc-js";
import { EVENT_TYPE_HEADER } from "@mercato/platform/events";
import { createLogger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import { IdentityService as IdentityServiceV1 } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { IdentityService as IdentityServiceV2 } from "@mercato/sdk/gen/mercato/identity/v2/identity_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { testDatabaseUrl, testNatsUrl } from "@mercato/testing";
import { createLocalJWKSet, type JWK, type JWTPayload, jwtVerify } from "jose";
import { connect, type JsMsg, type NatsConnection } from "nats";
import { loadConfig } from "./config.js";
import type { IdentitySchema } from "./db/schema.js";
import { formatKek, generateKek } from "./domain/kek.js";
import { identityStream } from "./events/publishers.js";
import { type BuildOptions, identityService } from "./server.js";

/** The admin every test service is started with. */
export const testAdmin = { email: "admin@identity.test", password: "identity-admin-secret" } as const;

/** A clock tests can stop and move; it follows the system clock until frozen. */
export class TestClock {
  private frozenAt: number | undefined;

  /** The time: the frozen instant, or now. */
  readonly now = (): Date => new Date(this.frozenAt ?? Date.now());

  /** Stops the clock at the current time. */
  freeze(): void {
    this.frozenAt = Date.now();
  }

  /** Moves a frozen clock forward. */
  advance(ms: number): void {
    if (this.frozenAt === undefined) throw new Error("TestClock.advance: freeze the clock first");
    this.frozenAt += ms;
  }

  /** Lets the clock follow the system clock again. */
  release(): void {
    this.frozenAt = undefined;
  }
}

/**
 * The KEK every test identity of this process seals its keys with unless `IDENTITY_KEK` is given, so
 * a restarted identity opens what the first one sealed (as one deployment's Secret would).
 */
export const testKek = formatKek(generateKek("test"));

/** A running identity with clients. */
export interface TestIdentity {
  readonly service: RunningService<IdentitySchema>;
  readonly v1: GrpcClient<typeof IdentityServiceV1>;
  readonly v2: GrpcClient<typeof IdentityServiceV2>;
  readonly nats: NatsConnection;
  stop(): Promise<void>;
}

/**
 * Starts identity on port 0 with `env` on top of: a fresh PostgreSQL database (unless `env` names
 * one in `DATABASE_URL`), the run's NATS, the test admin and {@link testKek}.
 */
export async function startIdentity(
  env: Record<string, string> = {},
  options: BuildOptions = {},
): Promise<TestIdentity> {
  const database = "DATABASE_URL" in env ? {} : { DATABASE_URL: await testDatabaseUrl("identity") };
  const config = loadConfig({
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    NATS_URL: testNatsUrl(),
    IDENTITY_ADMIN_EMAIL: testAdmin.email,
    IDENTITY_ADMIN_PASSWORD: testAdmin.password,
    IDENTITY_KEK: testKek,
    ...database,
    ...env,
  });
  const logger = createLogger({ service: "identity-test", level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const service = await runService({ ...identityService(config, options), logger });
  const address = `127.0.0.1:${service.port}`;
  const v1 = createGrpcClient(IdentityServiceV1, address);
  const v2 = createGrpcClient(IdentityServiceV2, address);
  const nats = await connect({ servers: config.natsUrl });
  return {
    service,
    v1,
    v2,
    nats,
    async stop() {
      v1.$close();
      v2.$close();
      await nats.drain();
      await service.stop();
    },
  };
}

/** Call options that make the call as `user`, the way the edge would (`x-user-id`, `x-user-role`). */
export function as(
  user: { readonly id: string },
  role: "customer" | "admin" = "customer",
): { metadata: Record<string, string> } {
  return { metadata: { "x-user-id": user.id, "x-user-role": role } };
}

/** The gRPC error a promise rejects with (fails the test when it resolves). */
export async function callError(
  promise: Promise<unknown>,
): Promise<Error & { code: status; details: string; metadata: Metadata }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code: status; details: string; metadata: Metadata };
  }
  throw new Error("expected the call to fail");
}

/** Verifies an access token against the keys GetJwks returns, pinning ES256, issuer and audience. */
export async function verifyWithJwks(
  identity: TestIdentity,
  token: string,
  expected: { issuer?: string; audience?: string } = {},
): Promise<{ payload: JWTPayload; kid: string | undefined }> {
  const { keys } = await identity.v1.getJwks({});
  const jwks = createLocalJWKSet({
    keys: keys.map((k): JWK => {
      const jwk: JWK = { kty: k.kty, kid: k.kid, use: k.use, alg: k.alg };
      if (k.crv) jwk.crv = k.crv;
      if (k.x) jwk.x = k.x;
      if (k.y) jwk.y = k.y;
      return jwk;
    }),
  });
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    algorithms: ["ES256"],
    issuer: expected.issuer ?? "mercato-identity",
    audience: expected.audience ?? "mercato",
  });
  return { payload, kid: protectedHeader.kid };
}

/** Every message on `subject` in identity's stream, read with an ordered JetStream consumer. */
export async function readSubject(nats: NatsConnection, subject: string): Promise<JsMsg[]> {
  const consumer = await nats.jetstream().consumers.get(identityStream.name, { filterSubjects: [subject] });
  const messages: JsMsg[] = [];
  const batch = await consumer.fetch({ max_messages: 10_000, expires: 1_000 });
  for await (const message of batch) {
    messages.push(message);
    if (message.info.pending === 0) break;
  }
  await batch.close();
  return messages;
}

/** The decoded events of type `schema` on `subject` that `match`. */
export async function eventsOn<D extends DescMessage>(
  nats: NatsConnection,
  subject: string,
  schema: D,
  match: (event: MessageShape<D>) => boolean,
): Promise<MessageShape<D>[]> {
  const messages = await readSubject(nats, subject);
  return messages
    .filter((m) => m.headers?.get(EVENT_TYPE_HEADER) === schema.typeName)
    .map((m) => fromBinary(schema, m.data))
    .filter(match);
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A fresh, unique email for a test. */
export function uniqueEmail(label: string): string {
  return `${label.toLowerCase()}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}@example.com`;
}

/** A password that meets the policy. */
export const goodPassword = "a long enough secret";

export { status };
