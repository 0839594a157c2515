import { createHmac, createPublicKey } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { catalogV1, identityV1 } from "@mercato/sdk";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, postJson, startTestGateway, type TestGateway } from "./testing/gateway.js";
import { newKey, signToken, startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const identity = "/mercato.identity.v1.IdentityService";
const catalog = "/mercato.catalog.v1.CatalogService";
const customerId = "0190a1b2-0000-7000-8000-00000000c001";

let upstreams: TestUpstreams;
let edge: TestGateway;
let valid: string;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);
const claims = () => ({
  sub: customerId,
  role: "customer",
  iss: "mercato-identity",
  aud: "mercato",
  iat: now(),
  exp: now() + 900,
});

beforeAll(async () => {
  upstreams = await startTestUpstreams();
  edge = await startTestGateway(upstreams, {
    JWT_CLOCK_TOLERANCE_S: "30",
    USER_CHECK_TTL_MS: "500",
    JWKS_UNKNOWN_KID_COOLDOWN_MS: "60000",
    RATE_LIMIT_STRICT: "100000/1m",
    RATE_LIMIT_DEFAULT: "100000/1m",
    RATE_LIMIT_LOOSE: "100000/1m",
  });
  valid = await signToken(upstreams.jwks[0]!, { sub: customerId });
});

afterAll(async () => {
  await edge?.stop();
  await upstreams?.stop();
});

/** Sends the token on a PUBLIC route, an AUTHENTICATED one, over Connect and over gRPC; all must be 401. */
async function expectRejectedEverywhere(token: string): Promise<void> {
  for (const path of [`${catalog}/ListProducts`, `${identity}/GetUser`]) {
    const response = await postJson(edge.base, path, {}, bearer(token));
    expect(response.status, path).toBe(401);
    expect(await response.json()).toEqual({
      code: "unauthenticated",
      message: "invalid or expired access token",
    });
  }
  const target = edge.base.replace("http://", "");
  const catalogClient = createGrpcClient(catalogV1.CatalogService, target);
  const identityClient = createGrpcClient(identityV1.IdentityService, target);
  try {
    const listed = (await catalogClient
      .listProducts({}, { metadata: bearer(token) })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(listed.code).toBe(grpc.status.UNAUTHENTICATED);
    const user = (await identityClient
      .getUser({}, { metadata: bearer(token) })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(user.code).toBe(grpc.status.UNAUTHENTICATED);
  } finally {
    catalogClient.$close();
    identityClient.$close();
  }
}

describe("token attacks: unauthenticated, and zero calls reach any service", () => {
  const attacks: [string, () => Promise<string>][] = [
    ["alg none", async () => `${b64({ alg: "none", typ: "JWT", kid: "key-1" })}.${b64(claims())}.`],
    [
      "alg none with a signature part",
      async () =>
        `${b64({ alg: "none", kid: "key-1" })}.${b64(claims())}.${Buffer.from("x").toString("base64url")}`,
    ],
    [
      "HS256 signed with the public key (JWK JSON as the HMAC secret)",
      async () => {
        const header = b64({ alg: "HS256", typ: "JWT", kid: "key-1" });
        const payload = b64(claims());
        const secret = JSON.stringify(upstreams.jwks[0]!.publicJwk);
        const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
        return `${header}.${payload}.${signature}`;
      },
    ],
    [
      "HS256 signed with the public key (PEM as the HMAC secret)",
      async () => {
        const header = b64({ alg: "HS256", typ: "JWT", kid: "key-1" });
        const payload = b64(claims());
        const pem = createPublicKey({ key: upstreams.jwks[0]!.publicJwk as never, format: "jwk" })
          .export({ type: "spki", format: "pem" })
          .toString();
        const signature = createHmac("sha256", pem).update(`${header}.${payload}`).digest("base64url");
        return `${header}.${payload}.${signature}`;
      },
    ],
    [
      "expired beyond the clock tolerance",
      () => signToken(upstreams.jwks[0]!, { sub: customerId, expiresIn: -(30 + 60) }),
    ],
    [
      "nbf in the future",
      () =>
        new SignJWT({ role: "customer" })
          .setProtectedHeader({ alg: "ES256", kid: "key-1", typ: "JWT" })
          .setSubject(customerId)
          .setIssuer("mercato-identity")
          .setAudience("mercato")
          .setIssuedAt()
          .setNotBefore(now() + 3600)
          .setExpirationTime(now() + 7200)
          .sign(upstreams.jwks[0]!.privateKey),
    ],
    ["wrong issuer", () => signToken(upstreams.jwks[0]!, { sub: customerId, issuer: "evil-identity" })],
    ["wrong audience", () => signToken(upstreams.jwks[0]!, { sub: customerId, audience: "another-api" })],
    [
      "tampered payload (role escalated, signature kept)",
      async () => {
        const [header, , signature] = valid.split(".");
        return `${header}.${b64({ ...claims(), role: "admin" })}.${signature}`;
      },
    ],
    [
      "tampered payload (another subject, signature kept)",
      async () => {
        const [header, payload, signature] = valid.split(".");
        const decoded = JSON.parse(Buffer.from(payload!, "base64url").toString()) as Record<string, unknown>;
        return `${header}.${b64({ ...decoded, sub: "0190a1b2-0000-7000-8000-00000000c002" })}.${signature}`;
      },
    ],
    [
      "stripped signature (trailing dot)",
      async () => {
        const [header, payload] = valid.split(".");
        return `${header}.${payload}.`;
      },
    ],
    [
      "stripped signature (two parts)",
      async () => {
        const [header, payload] = valid.split(".");
        return `${header}.${payload}`;
      },
    ],
    [
      "signature of another token",
      async () => {
        const other = await signToken(upstreams.jwks[0]!, { sub: customerId, expiresIn: 600 });
        const [header, payload] = valid.split(".");
        return `${header}.${payload}.${other.split(".")[2]}`;
      },
    ],
    [
      "no kid",
      () =>
        new SignJWT({ role: "customer" })
          .setProtectedHeader({ alg: "ES256", typ: "JWT" })
          .setSubject(customerId)
          .setIssuer("mercato-identity")
          .setAudience("mercato")
          .setExpirationTime(now() + 600)
          .sign(upstreams.jwks[0]!.privateKey),
    ],
  ];

  it.each(attacks)("%s", async (_, make) => {
    const token = await make();
    const calls = upstreams.calls.length;
    const checks = upstreams.userChecks.length;
    await expectRejectedEverywhere(token);
    expect(upstreams.calls.length).toBe(calls);
    expect(upstreams.userChecks.length).toBe(checks);
  });

  it("accepts the same token shapes when nothing is wrong (control), within the clock tolerance", async () => {
    const slightlyExpired = await signToken(upstreams.jwks[0]!, { sub: customerId, expiresIn: -10 });
    for (const token of [valid, slightlyExpired]) {
      const response = await postJson(edge.base, `${identity}/GetUser`, {}, bearer(token));
      expect(response.status).toBe(200);
    }
  });

  it("unknown kid: one JWKS refresh, then refused, with zero calls to services", async () => {
    const stranger = await newKey("attacker-kid");
    const token = await signToken(stranger, { sub: customerId });
    const calls = upstreams.calls.length;
    const jwks = upstreams.jwksCalls();
    await expectRejectedEverywhere(token);
    await expectRejectedEverywhere(token);
    expect(upstreams.jwksCalls()).toBe(jwks + 1);
    expect(upstreams.calls.length).toBe(calls);
  });

  it("an HS256 token whose kid names an HMAC-looking key is refused too", async () => {
    upstreams.jwks.push({
      ...upstreams.jwks[0]!,
      kid: "oct-1",
      publicJwk: { kty: "oct", kid: "oct-1", alg: "HS256", k: Buffer.from("secret").toString("base64url") },
    });
    const header = b64({ alg: "HS256", kid: "oct-1" });
    const payload = b64(claims());
    const signature = createHmac("sha256", "secret").update(`${header}.${payload}`).digest("base64url");
    const calls = upstreams.calls.length;
    await expectRejectedEverywhere(`${header}.${payload}.${signature}`);
    expect(upstreams.calls.length).toBe(calls);
    upstreams.jwks.pop();
  });
});

describe("tokens of deleted users", () => {
  it("are refused with no forwarded call: identity is asked once, the answer remembered", async () => {
    const deletedId = "0190a1b2-0000-7000-8000-0000000dead1";
    upstreams.deletedUsers.add(deletedId);
    const token = await signToken(upstreams.jwks[0]!, { sub: deletedId });
    const calls = upstreams.calls.length;
    const checks = upstreams.userChecks.length;
    await expectRejectedEverywhere(token);
    expect(upstreams.calls.length).toBe(calls);
    expect(upstreams.userChecks.length).toBe(checks + 1);
    expect(upstreams.userChecks.at(-1)).toMatchObject({
      method: "GetUserAccess",
      userId: undefined,
      request: expect.objectContaining({ userId: deletedId }),
    });
  });

  it("asks about a live user once per USER_CHECK_TTL_MS; a deletion elsewhere shows after that window", async () => {
    const userId = "0190a1b2-0000-7000-8000-0000000dead2";
    const token = await signToken(upstreams.jwks[0]!, { sub: userId });
    const checks = upstreams.userChecks.length;
    const burst = await Promise.all(
      [1, 2, 3].map(() => postJson(edge.base, `${identity}/GetUser`, {}, bearer(token))),
    );
    expect(burst.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(upstreams.userChecks.length).toBe(checks + 1); // concurrent first sights share one check

    upstreams.deletedUsers.add(userId); // deleted directly at identity, not through this edge
    const inWindow = await postJson(edge.base, `${catalog}/ListProducts`, {}, bearer(token));
    expect(inWindow.status).toBe(200); // the documented window (500 ms here)
    await new Promise((resolve) => setTimeout(resolve, 600));
    const calls = upstreams.calls.length;
    const after = await postJson(edge.base, `${catalog}/ListProducts`, {}, bearer(token));
    expect(after.status).toBe(401);
    expect(upstreams.calls.length).toBe(calls);
  });

  it("stops a user's tokens at once on the replica that served their DeleteUser", async () => {
    const userId = "0190a1b2-0000-7000-8000-0000000dead3";
    const token = await signToken(upstreams.jwks[0]!, { sub: userId });
    expect((await postJson(edge.base, `${identity}/GetUser`, {}, bearer(token))).status).toBe(200);
    const deleted = await postJson(edge.base, `${identity}/DeleteUser`, {}, bearer(token));
    expect(deleted.status).toBe(200);
    const checks = upstreams.userChecks.length;
    const calls = upstreams.calls.length;
    const after = await postJson(edge.base, `${identity}/GetUser`, {}, bearer(token));
    expect(after.status).toBe(401);
    expect(upstreams.calls.length).toBe(calls);
    expect(upstreams.userChecks.length).toBe(checks);
  });
});
