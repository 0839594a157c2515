import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { createLogger } from "@mercato/platform/log";
import { identityV1 } from "@mercato/sdk";
import { testNatsUrl } from "@mercato/testing";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessCheck, type UserAccess } from "./access.js";
import { accessEventSubjects } from "./access-events.js";
import { bearer, postJson, startTestGateway, type TestGateway } from "./testing/gateway.js";
import { signToken, startTestUpstreams, type TestUpstreams, userAccess } from "./testing/upstreams.js";

const logger = createLogger({ service: "access-test", level: "silent" });

/** An AccessCheck on a clock the test moves, asking a table the test edits (or failing). */
function setup(ttlMs = 10_000, maxStaleMs = 30_000) {
  let time = 1_000_000;
  const identity = new Map<string, UserAccess>();
  const state = { down: false, lookups: 0 };
  const check = new AccessCheck({
    ttlMs,
    maxStaleMs,
    logger,
    now: () => time,
    lookup: async (userId) => {
      state.lookups++;
      if (state.down) throw new Error("identity unavailable");
      return identity.get(userId) ?? { state: "deleted" };
    },
  });
  return { check, identity, state, advance: (ms: number) => (time += ms) };
}

const token = (role: "customer" | "admin", accessVersion: number) => ({ userId: "u1", role, accessVersion });
const outcome = (promise: Promise<void>) =>
  promise.then(
    () => "ok",
    (error: { code?: Code }) =>
      error.code === Code.Unauthenticated
        ? "refused"
        : error.code === Code.Unavailable
          ? "unavailable"
          : String(error),
  );

describe("the access check", () => {
  it("refuses a token once identity says its role or version changed, within the TTL", async () => {
    const { check, identity, state, advance } = setup();
    identity.set("u1", { state: "active", role: "admin", version: 0 });
    expect(await outcome(check.check(token("admin", 0)))).toBe("ok");
    // Demoted at identity (version 1); the edge trusts its answer for the TTL, then asks again.
    identity.set("u1", { state: "active", role: "customer", version: 1 });
    advance(9_999);
    expect(await outcome(check.check(token("admin", 0)))).toBe("ok");
    expect(state.lookups).toBe(1);
    advance(1);
    expect(await outcome(check.check(token("admin", 0)))).toBe("refused");
    // The token issued after the change (customer, version 1) is honoured; an old customer token is not.
    expect(await outcome(check.check(token("customer", 1)))).toBe("ok");
    expect(await outcome(check.check(token("customer", 0)))).toBe("refused");
    // A token claiming admin at the current version cannot exist unless identity signed it: refused.
    expect(await outcome(check.check(token("admin", 1)))).toBe("refused");
  });

  it("asks at once when a token is newer than what the edge knows", async () => {
    const { check, identity, state } = setup();
    identity.set("u1", { state: "active", role: "customer", version: 0 });
    await check.check(token("customer", 0));
    identity.set("u1", { state: "active", role: "admin", version: 1 });
    expect(await outcome(check.check(token("admin", 1)))).toBe("ok");
    expect(state.lookups).toBe(2);
  });

  it("applies identity's events at once, never going back to a lower version", async () => {
    const { check, identity, state } = setup();
    identity.set("u1", { state: "active", role: "admin", version: 0 });
    await check.check(token("admin", 0));
    check.applyChange("u1", "customer", 2);
    check.applyChange("u1", "admin", 1); // an older event arriving late
    expect(await outcome(check.check(token("admin", 0)))).toBe("refused");
    expect(await outcome(check.check(token("customer", 2)))).toBe("ok");
    check.markDeleted("u1");
    check.applyChange("u1", "customer", 3);
    expect(await outcome(check.check(token("customer", 3)))).toBe("refused");
    expect(state.lookups).toBe(1);
  });

  it("fails closed past the staleness bound: known users until maxStaleMs, unknown ones at once", async () => {
    const { check, identity, state, advance } = setup(10_000, 30_000);
    identity.set("u1", { state: "active", role: "customer", version: 0 });
    await check.check(token("customer", 0));
    state.down = true;
    advance(20_000);
    expect(await outcome(check.check(token("customer", 0)))).toBe("ok"); // 20 s old: still usable
    advance(9_999);
    expect(await outcome(check.check(token("customer", 0)))).toBe("ok");
    advance(1);
    expect(await outcome(check.check(token("customer", 0)))).toBe("unavailable"); // 30 s: the bound
    expect(await outcome(check.check({ userId: "never-seen", role: "customer", accessVersion: 0 }))).toBe(
      "unavailable",
    );
    state.down = false;
    expect(await outcome(check.check(token("customer", 0)))).toBe("ok");
  });

  it("forgets live users after a gap in the events, and asks again", async () => {
    const { check, identity, state } = setup();
    identity.set("u1", { state: "active", role: "customer", version: 0 });
    await check.check(token("customer", 0));
    check.forgetActive();
    await check.check(token("customer", 0));
    expect(state.lookups).toBe(2);
  });
});

describe("through the edge, with identity's events on NATS", () => {
  let upstreams: TestUpstreams;
  let edge: TestGateway;
  let nc: NatsConnection;
  const catalog = "/mercato.catalog.v1.CatalogService/ListProducts";
  const adminOnly = "/mercato.identity.v1.IdentityService/ListUsers";

  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    // A TTL as long as the bound allows: what happens sooner is the events' doing.
    edge = await startTestGateway(upstreams, {
      NATS_URL: testNatsUrl(),
      USER_CHECK_TTL_MS: "30000",
      USER_CHECK_MAX_STALE_MS: "30000",
    });
    nc = await connect({ servers: testNatsUrl() });
  });

  afterAll(async () => {
    await nc?.close();
    await edge?.stop();
    await upstreams?.stop();
  });

  const publishChange = (userId: string, role: identityV1.Role, accessVersion: bigint, reason: string) =>
    nc.publish(
      accessEventSubjects.changed,
      toBinary(
        identityV1.UserAccessChangedSchema,
        create(identityV1.UserAccessChangedSchema, { eventId: "e", userId, role, accessVersion, reason }),
      ),
    );

  /** Calls `path` with `token` until the status is `status` (events travel asynchronously). */
  async function eventually(path: string, token: string, status: number, withinMs = 5_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const response = await postJson(edge.base, path, {}, bearer(token));
      if (response.status === status || Date.now() - started > withinMs) return response.status;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("a demoted admin loses admin rights at once; the token issued after works as a customer", async () => {
    const userId = "0190a1b2-0000-7000-8000-0000000acc01";
    const adminToken = await signToken(upstreams.jwks[0]!, { sub: userId, role: "admin", ver: 0 });
    expect((await postJson(edge.base, adminOnly, {}, bearer(adminToken))).status).toBe(200);
    const started = Date.now();
    userAccess.set(userId, { role: "customer", version: 1 });
    publishChange(userId, identityV1.Role.CUSTOMER, 1n, "role_changed");
    expect(await eventually(adminOnly, adminToken, 401)).toBe(401);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await postJson(edge.base, catalog, {}, bearer(adminToken))).status).toBe(401);
    const customerToken = await signToken(upstreams.jwks[0]!, { sub: userId, role: "customer", ver: 1 });
    expect((await postJson(edge.base, catalog, {}, bearer(customerToken))).status).toBe(200);
    expect((await postJson(edge.base, adminOnly, {}, bearer(customerToken))).status).toBe(403);
  });

  it("a revoked session's tokens and a deleted user's tokens stop at once", async () => {
    const revokedId = "0190a1b2-0000-7000-8000-0000000acc02";
    const revoked = await signToken(upstreams.jwks[0]!, { sub: revokedId, ver: 4 });
    expect((await postJson(edge.base, catalog, {}, bearer(revoked))).status).toBe(200);
    userAccess.set(revokedId, { role: "customer", version: 5 });
    publishChange(revokedId, identityV1.Role.CUSTOMER, 5n, "session_revoked");
    expect(await eventually(catalog, revoked, 401)).toBe(401);

    const deletedId = "0190a1b2-0000-7000-8000-0000000acc03";
    const doomed = await signToken(upstreams.jwks[0]!, { sub: deletedId });
    expect((await postJson(edge.base, catalog, {}, bearer(doomed))).status).toBe(200);
    upstreams.deletedUsers.add(deletedId);
    nc.publish(
      accessEventSubjects.deleted,
      toBinary(
        identityV1.UserDeletedSchema,
        create(identityV1.UserDeletedSchema, { eventId: "d", userId: deletedId }),
      ),
    );
    expect(await eventually(catalog, doomed, 401)).toBe(401);
  });
});
