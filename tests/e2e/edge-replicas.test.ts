/**
 * The edge as several replicas (issue 11, item 3): two gateways behind startSystem's local balancer
 * and two identity replicas whose signing key rotates every {@link KEY_PERIOD_S} seconds. Tokens
 * signed by every key of the run are accepted by every gateway replica (each refreshes its own JWKS
 * cache on an unknown kid), and each replica enforces its share of the rate limit.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2eSystem, type EdgeResponse, startE2eSystem } from "./harness.js";
import { paths } from "./shop-helpers.js";

const KEY_PERIOD_S = 2;
const STRICT_LIMIT = 400;

let e2e: E2eSystem;

beforeAll(async () => {
  e2e = await startE2eSystem({
    name: "edge-replicas",
    replicas: { identity: 2, gateway: 2 },
    serviceEnv: {
      identity: { SIGNING_KEY_PERIOD_SECONDS: String(KEY_PERIOD_S) },
      gateway: { RATE_LIMIT_STRICT: `${STRICT_LIMIT}/1m` },
    },
  });
}, 120_000);

afterAll(async () => {
  await e2e?.stop();
}, 60_000);

/** The `kid` in a JWT's header. */
function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8"));
  return String(header.kid);
}

/** POSTs Connect JSON to one gateway replica, bypassing the balancer. */
async function callReplica(port: number, path: string, body: unknown, token?: string): Promise<EdgeResponse> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

describe("the edge as several replicas", () => {
  it("accepts tokens of every rotated key on every replica", async () => {
    const email = `rotate-${randomUUID()}@example.com`;
    const password = "a long enough secret";
    const registered = await e2e.call(`${paths.identity}/Register`, { email, password, name: "Rotating" });
    expect(registered.status).toBe(200);
    const userId = registered.body.user.id as string;

    const tokens = new Map<string, string>();
    for (let i = 0; i < 16 && tokens.size < 3; i++) {
      const token = await e2e.login(email, password);
      tokens.set(kidOf(token), token);
      await sleep(KEY_PERIOD_S * 500);
    }
    expect(tokens.size, "signing keys seen over the run").toBeGreaterThanOrEqual(3);

    const gateways = e2e.system.replicasOf("gateway");
    expect(gateways).toHaveLength(2);
    for (const gateway of gateways) {
      for (const [kid, token] of tokens) {
        const answer = await callReplica(gateway.grpcPort, `${paths.identity}/GetUser`, { userId }, token);
        expect(answer.status, `${gateway.name} with a token of key ${kid}`).toBe(200);
        expect(answer.body.user.id).toBe(userId);
      }
    }
  });

  it("has each replica enforce its share of the limit (GATEWAY_REPLICAS)", async () => {
    for (const gateway of e2e.system.replicasOf("gateway")) {
      const answer = await callReplica(gateway.grpcPort, `${paths.identity}/Login`, {
        email: "nobody@example.com",
        password: "not the password",
      });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("ratelimit-limit")).toBe(String(STRICT_LIMIT / 2));
    }
  });
});
