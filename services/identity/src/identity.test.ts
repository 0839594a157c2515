import { fieldViolationsOf } from "@mercato/platform/errors";
import { UserDeletedSchema, UserRegisteredSchema } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { Role } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { testDatabaseUrl } from "@mercato/testing";
import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginFailures, refreshTokens, users } from "./db/schema.js";
import { subjects } from "./events/publishers.js";
import {
  as,
  callError,
  eventsOn,
  eventually,
  goodPassword,
  startIdentity,
  status,
  TestClock,
  type TestIdentity,
  testAdmin,
  uniqueEmail,
  verifyWithJwks,
} from "./testing.js";

let identity: TestIdentity;
let adminId: string;
const clock = new TestClock();

beforeAll(async () => {
  identity = await startIdentity({}, { clock: clock.now });
  const login = await identity.v1.login(testAdmin);
  const { payload } = await verifyWithJwks(identity, login.accessToken);
  adminId = payload.sub!;
});

afterAll(async () => {
  await identity?.stop();
});

const admin = () => as({ id: adminId }, "admin");

async function register(label: string, name = "Test User") {
  const email = uniqueEmail(label);
  const { user } = await identity.v1.register({ email, password: goodPassword, name });
  return { ...user!, email };
}

async function userCount(): Promise<number> {
  const [row] = await identity.service.database.db.select({ n: count() }).from(users);
  return row!.n;
}

describe("register, login, get user", () => {
  it("registers a customer, logs in and reads the account with a token that verifies against GetJwks", async () => {
    const email = uniqueEmail("Ada");
    const { user } = await identity.v1.register({
      email: `  ${email.toUpperCase()} `,
      password: goodPassword,
      name: " Ada Lovelace ",
    });
    expect(user).toMatchObject({ email, name: "Ada Lovelace", role: Role.CUSTOMER });
    expect(user!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);

    const login = await identity.v1.login({ email: email.toUpperCase(), password: goodPassword });
    expect(login.expiresIn).toBe(900);
    expect(login.refreshToken).not.toBe("");
    const { payload, kid } = await verifyWithJwks(identity, login.accessToken);
    expect(kid).toBeTruthy();
    expect(payload).toMatchObject({
      sub: user!.id,
      role: "customer",
      email,
      iss: "mercato-identity",
      aud: "mercato",
    });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.jti).toBeTruthy();

    const read = await identity.v1.getUser({ userId: "" }, as({ id: user!.id }));
    expect(read.user).toMatchObject({ id: user!.id, email, name: "Ada Lovelace", role: Role.CUSTOMER });
  });

  it("publishes a JWKS without private members and refuses tokens for another audience or algorithm", async () => {
    const { keys } = await identity.v1.getJwks({});
    expect(keys.length).toBeGreaterThanOrEqual(2); // the active key and its pre-published successor
    for (const key of keys) expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(JSON.stringify(keys)).not.toMatch(/"d"/);
    const login = await identity.v1.login(testAdmin);
    await expect(verifyWithJwks(identity, login.accessToken, { audience: "someone-else" })).rejects.toThrow();
    await expect(verifyWithJwks(identity, login.accessToken, { issuer: "evil" })).rejects.toThrow();
  });

  it("answers ALREADY_EXISTS for a taken email, whatever its case, and writes nothing", async () => {
    const existing = await register("dup");
    const before = await userCount();
    const error = await callError(
      identity.v1.register({ email: existing.email.toUpperCase(), password: goodPassword, name: "Again" }),
    );
    expect(error.code).toBe(status.ALREADY_EXISTS);
    expect(await userCount()).toBe(before);
  });

  it("answers INVALID_ARGUMENT naming the field for a bad email, an empty name or a weak password, writing nothing", async () => {
    const before = await userCount();
    const badEmail = await callError(
      identity.v1.register({ email: "not-an-email", password: goodPassword, name: "X" }),
    );
    expect(badEmail.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(badEmail)).toEqual([
      { field: "email", description: "must be a valid email address" },
    ]);

    const emptyName = await callError(
      identity.v1.register({ email: uniqueEmail("noname"), password: goodPassword, name: "  " }),
    );
    expect(emptyName.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(emptyName).map((v) => v.field)).toEqual(["name"]);

    const weak = await callError(
      identity.v1.register({ email: uniqueEmail("weak"), password: "short", name: "W" }),
    );
    expect(fieldViolationsOf(weak).map((v) => v.field)).toEqual(["password"]);

    const all = await callError(identity.v1.register({ email: "", password: "", name: "" }));
    expect(fieldViolationsOf(all).map((v) => v.field)).toEqual(["email", "name", "password"]);
    expect(await userCount()).toBe(before);
  });
});

describe("login failures", () => {
  it("answers a wrong password and an unknown email identically", async () => {
    const known = await register("known");
    const unknownEmail = uniqueEmail("nobody");
    const timed = async (email: string) => {
      const started = performance.now();
      const error = await callError(identity.v1.login({ email, password: "not the password" }));
      return { error, ms: performance.now() - started };
    };
    const wrong = await timed(known.email);
    const unknown = await timed(unknownEmail);
    expect(wrong.error.code).toBe(status.UNAUTHENTICATED);
    expect(unknown.error.code).toBe(status.UNAUTHENTICATED);
    expect(unknown.error.details).toBe(wrong.error.details);
    // Both run scrypt (the unknown email against the decoy hash): compare medians of a few more tries
    // (two more each stay under the throttle), loosely, since the machine may be busy.
    const samples = { wrong: [wrong.ms], unknown: [unknown.ms] };
    for (let i = 0; i < 2; i++) {
      samples.wrong.push((await timed(known.email)).ms);
      samples.unknown.push((await timed(unknownEmail)).ms);
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1]!;
    expect(median(samples.unknown)).toBeGreaterThan(median(samples.wrong) / 3);
    // And both left the same bookkeeping behind.
    const streaks = await identity.service.database.db.select().from(loginFailures);
    expect(streaks.find((s) => s.email === known.email)?.failures).toBe(3);
    expect(streaks.find((s) => s.email === unknownEmail)?.failures).toBe(3);
  });

  it("makes each attempt wait longer after repeated failures, and lets the right password in once the delay passed", async () => {
    const user = await register("throttled");
    const fail = () => callError(identity.v1.login({ email: user.email, password: "wrong password!" }));
    // Time is frozen and moved by hand, so the test does not depend on how busy the machine is.
    clock.freeze();
    try {
      for (let i = 0; i < 3; i++) expect((await fail()).code).toBe(status.UNAUTHENTICATED);

      // Three failures earn a 1 s delay: even the right password is refused until it passes.
      const early = await callError(identity.v1.login({ email: user.email, password: goodPassword }));
      expect(early.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(early.metadata.get("retry-after")).toEqual(["1"]);
      clock.advance(999);
      expect((await callError(identity.v1.login({ email: user.email, password: goodPassword }))).code).toBe(
        status.RESOURCE_EXHAUSTED,
      );

      clock.advance(1);
      expect((await fail()).code).toBe(status.UNAUTHENTICATED);
      // The fourth failure doubles it.
      const later = await callError(identity.v1.login({ email: user.email, password: goodPassword }));
      expect(later.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(later.metadata.get("retry-after")).toEqual(["2"]);

      clock.advance(2_000);
      const login = await identity.v1.login({ email: user.email, password: goodPassword });
      expect(login.accessToken).toBeTruthy();
    } finally {
      clock.release();
    }
    const [streak] = await identity.service.database.db
      .select()
      .from(loginFailures)
      .where(eq(loginFailures.email, user.email));
    expect(streak).toBeUndefined();
  });

  it("throttles an unknown email exactly like a known one, and forgets a streak after a while", async () => {
    const email = uniqueEmail("ghost");
    clock.freeze();
    try {
      for (let i = 0; i < 3; i++) {
        expect((await callError(identity.v1.login({ email, password: "whatever it is" }))).code).toBe(
          status.UNAUTHENTICATED,
        );
      }
      expect((await callError(identity.v1.login({ email, password: "whatever it is" }))).code).toBe(
        status.RESOURCE_EXHAUSTED,
      );
      // No permanent lockout: even a long streak is forgotten after 15 quiet minutes.
      clock.advance(15 * 60_000);
      expect((await callError(identity.v1.login({ email, password: "whatever it is" }))).code).toBe(
        status.UNAUTHENTICATED,
      );
    } finally {
      clock.release();
    }
  });
});

describe("refresh tokens", () => {
  it("rotates: the presented token is spent and a new one is issued in the same family", async () => {
    const user = await register("rotate");
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    const rotated = await identity.v1.refreshToken({ refreshToken: login.refreshToken });
    expect(rotated.refreshToken).not.toBe(login.refreshToken);
    const { payload } = await verifyWithJwks(identity, rotated.accessToken);
    expect(payload.sub).toBe(user.id);
    const again = await identity.v1.refreshToken({ refreshToken: rotated.refreshToken });
    expect(again.accessToken).toBeTruthy();

    const tokens = await identity.service.database.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.userId, user.id));
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens.map((t) => t.familyId)).size).toBe(1);
    expect(tokens.filter((t) => t.usedAt === null)).toHaveLength(1);
  });

  it("revokes the whole family when a spent token is presented again", async () => {
    const user = await register("reuse");
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    const other = await identity.v1.login({ email: user.email, password: goodPassword }); // another device
    const rotated = await identity.v1.refreshToken({ refreshToken: login.refreshToken });

    const reuse = await callError(identity.v1.refreshToken({ refreshToken: login.refreshToken }));
    expect(reuse.code).toBe(status.UNAUTHENTICATED);
    const newest = await callError(identity.v1.refreshToken({ refreshToken: rotated.refreshToken }));
    expect(newest.code).toBe(status.UNAUTHENTICATED);
    // Only that family: the other device's session lives on.
    expect((await identity.v1.refreshToken({ refreshToken: other.refreshToken })).accessToken).toBeTruthy();

    expect((await callError(identity.v1.refreshToken({ refreshToken: "made-up" }))).code).toBe(
      status.UNAUTHENTICATED,
    );
    expect((await callError(identity.v1.refreshToken({ refreshToken: "" }))).code).toBe(
      status.UNAUTHENTICATED,
    );
  });
});

describe("users", () => {
  it("lets only an admin change a role; the next token carries it", async () => {
    const user = await register("promote");
    const denied = await callError(identity.v1.updateUser({ userId: user.id, role: Role.ADMIN }, as(user)));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    const stillCustomer = await identity.v1.getUser({ userId: user.id }, admin());
    expect(stillCustomer.user?.role).toBe(Role.CUSTOMER);

    const promoted = await identity.v1.updateUser({ userId: user.id, role: Role.ADMIN }, admin());
    expect(promoted.user?.role).toBe(Role.ADMIN);
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    expect((await verifyWithJwks(identity, login.accessToken)).payload.role).toBe("admin");

    const unspecified = await callError(
      identity.v1.updateUser({ userId: user.id, role: Role.UNSPECIFIED }, admin()),
    );
    expect(fieldViolationsOf(unspecified).map((v) => v.field)).toEqual(["role"]);
  });

  it("lets a customer change their own name and email but not another user's account", async () => {
    const user = await register("owner");
    const other = await register("other");
    const newEmail = uniqueEmail("renamed");
    const updated = await identity.v1.updateUser({ name: "New Name", email: newEmail }, as(user));
    expect(updated.user).toMatchObject({ id: user.id, name: "New Name", email: newEmail });

    const taken = await callError(identity.v1.updateUser({ email: other.email }, as(user)));
    expect(taken.code).toBe(status.ALREADY_EXISTS);
    const foreign = await callError(identity.v1.updateUser({ userId: other.id, name: "Hacked" }, as(user)));
    expect(foreign.code).toBe(status.PERMISSION_DENIED);
    const read = await callError(identity.v1.getUser({ userId: other.id }, as(user)));
    expect(read.code).toBe(status.PERMISSION_DENIED);
    const invalid = await callError(identity.v1.updateUser({ name: "" }, as(user)));
    expect(fieldViolationsOf(invalid).map((v) => v.field)).toEqual(["name"]);
  });

  it("changes a password only with the current one, and ends every session", async () => {
    const user = await register("password");
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    const missing = await callError(identity.v1.updateUser({ password: "a brand new secret" }, as(user)));
    expect(fieldViolationsOf(missing).map((v) => v.field)).toEqual(["current_password"]);
    const wrong = await callError(
      identity.v1.updateUser({ password: "a brand new secret", currentPassword: "not it at all" }, as(user)),
    );
    expect(wrong.code).toBe(status.PERMISSION_DENIED);

    await identity.v1.updateUser({ password: "a brand new secret", currentPassword: goodPassword }, as(user));
    expect((await callError(identity.v1.refreshToken({ refreshToken: login.refreshToken }))).code).toBe(
      status.UNAUTHENTICATED,
    );
    expect((await callError(identity.v1.login({ email: user.email, password: goodPassword }))).code).toBe(
      status.UNAUTHENTICATED,
    );
    expect(
      (await identity.v1.login({ email: user.email, password: "a brand new secret" })).accessToken,
    ).toBeTruthy();
  });

  it("pages through users newest first with stable page tokens, for admins only", async () => {
    const tag = `pager${Date.now().toString(36)}`;
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await register(`${tag}-${i}`, `Pager ${i}`)).id);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await identity.v1.listUsers({ pageSize: 2, pageToken, query: tag.toUpperCase() }, admin());
      expect(page.users.length).toBeLessThanOrEqual(2);
      seen.push(...page.users.map((u) => u.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");
    expect(pages).toBe(3);
    expect(seen).toEqual([...created].reverse());

    const all = await identity.v1.listUsers({ pageSize: 0 }, admin());
    expect(all.users.length).toBeGreaterThan(5);
    const ids = all.users.map((u) => u.id);
    expect(ids).toEqual([...ids].sort().reverse());

    const customer = await callError(identity.v1.listUsers({}, as({ id: created[0]! })));
    expect(customer.code).toBe(status.PERMISSION_DENIED);
    const badToken = await callError(identity.v1.listUsers({ pageToken: "garbage" }, admin()));
    expect(fieldViolationsOf(badToken).map((v) => v.field)).toEqual(["page_token"]);
  });

  it("deletes a user: their refresh tokens stop working and UserDeleted is published", async () => {
    const user = await register("leaver");
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    await identity.v1.deleteUser({}, as(user));

    expect((await callError(identity.v1.refreshToken({ refreshToken: login.refreshToken }))).code).toBe(
      status.UNAUTHENTICATED,
    );
    expect((await callError(identity.v1.getUser({ userId: user.id }, admin()))).code).toBe(status.NOT_FOUND);
    expect((await callError(identity.v1.login({ email: user.email, password: goodPassword }))).code).toBe(
      status.UNAUTHENTICATED,
    );
    const [tokens] = await identity.service.database.db
      .select({ n: count() })
      .from(refreshTokens)
      .where(eq(refreshTokens.userId, user.id));
    expect(tokens!.n).toBe(0);

    const events = await eventually(async () => {
      const found = await eventsOn(
        identity.nats,
        subjects.userDeleted,
        UserDeletedSchema,
        (e) => e.userId === user.id,
      );
      return found.length > 0 ? found : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events![0]!.eventId).toBeTruthy();
    expect((await callError(identity.v1.deleteUser({ userId: user.id }, admin()))).code).toBe(
      status.NOT_FOUND,
    );
  });

  it("publishes UserRegistered exactly once per account", async () => {
    const user = await register("welcome", "Welcome Me");
    const match = (e: { userId: string }) => e.userId === user.id;
    const first = await eventually(async () => {
      const found = await eventsOn(identity.nats, subjects.userRegistered, UserRegisteredSchema, match);
      return found.length > 0 ? found : undefined;
    });
    expect(first![0]).toMatchObject({
      userId: user.id,
      email: user.email,
      name: "Welcome Me",
      role: Role.CUSTOMER,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const settled = await eventsOn(identity.nats, subjects.userRegistered, UserRegisteredSchema, match);
    expect(settled).toHaveLength(1);
  });
});

describe("v2", () => {
  it("reads and updates profile and preferences over the same users as v1", async () => {
    const user = await register("profile");
    const initial = await identity.v2.getUser({}, as(user));
    expect(initial.user).toMatchObject({
      id: user.id,
      email: user.email,
      profile: { displayName: "", avatarUrl: "", bio: "" },
      preferences: { locale: "", marketingOptIn: false, currency: "" },
    });

    const updated = await identity.v2.updateUser(
      {
        name: "Grace Hopper",
        profile: { displayName: "Grace", avatarUrl: "https://img.example.com/g.png", bio: "Compilers." },
        preferences: { locale: "en-gb", marketingOptIn: true, currency: "eur" },
      },
      as(user),
    );
    expect(updated.user).toMatchObject({
      name: "Grace Hopper",
      profile: { displayName: "Grace", avatarUrl: "https://img.example.com/g.png", bio: "Compilers." },
      preferences: { locale: "en-GB", marketingOptIn: true, currency: "EUR" },
    });
    // Only the fields that are set change; an empty string clears.
    const cleared = await identity.v2.updateUser({ profile: { bio: "" } }, as(user));
    expect(cleared.user?.profile).toMatchObject({ displayName: "Grace", bio: "" });
    expect((await identity.v1.getUser({}, as(user))).user?.name).toBe("Grace Hopper");

    const bad = await callError(
      identity.v2.updateUser(
        { profile: { avatarUrl: "http://insecure.example.com/a.png" }, preferences: { currency: "XYZW" } },
        as(user),
      ),
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(bad).map((v) => v.field)).toEqual([
      "profile.avatar_url",
      "preferences.currency",
    ]);
    const foreign = await callError(identity.v2.getUser({ userId: adminId }, as(user)));
    expect(foreign.code).toBe(status.PERMISSION_DENIED);
  });
});

describe("a fresh identity", () => {
  it("ensures the configured admin idempotently and keeps its signing keys across restarts", async () => {
    const url = await testDatabaseUrl("identity");
    const first = await startIdentity({ DATABASE_URL: url });
    const before = await first.v1.login(testAdmin);
    await first.stop();

    const second = await startIdentity({ DATABASE_URL: url });
    try {
      const admins = await second.service.database.db.select().from(users);
      expect(admins.map((u) => [u.email, u.role])).toEqual([[testAdmin.email, "admin"]]);
      // A token from before the restart still verifies: the keys live in the database.
      const { payload } = await verifyWithJwks(second, before.accessToken);
      expect(payload).toMatchObject({ sub: admins[0]!.id, role: "admin", email: testAdmin.email });
      const registered = await eventually(async () => {
        const found = await eventsOn(
          second.nats,
          subjects.userRegistered,
          UserRegisteredSchema,
          (e) => e.userId === admins[0]!.id,
        );
        return found.length > 0 ? found : undefined;
      });
      expect(registered).toHaveLength(1);

      // The last admin can be neither deleted nor demoted.
      const adminCall = as({ id: admins[0]!.id }, "admin");
      const remove = await callError(second.v1.deleteUser({ userId: admins[0]!.id }, adminCall));
      expect(remove.code).toBe(status.FAILED_PRECONDITION);
      const demote = await callError(
        second.v1.updateUser({ userId: admins[0]!.id, role: Role.CUSTOMER }, adminCall),
      );
      expect(demote.code).toBe(status.FAILED_PRECONDITION);
    } finally {
      await second.stop();
    }
  });

  it("rotates signing keys and keeps tokens signed by the old key verifiable", async () => {
    const fast = await startIdentity({ SIGNING_KEY_PERIOD_SECONDS: "1" });
    try {
      const first = await fast.v1.login(testAdmin);
      const firstKid = (await verifyWithJwks(fast, first.accessToken)).kid;
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      const second = await fast.v1.login(testAdmin);
      const secondKid = (await verifyWithJwks(fast, second.accessToken)).kid;
      expect(secondKid).not.toBe(firstKid);
      // The retired key is still published, so the older token still verifies.
      expect((await verifyWithJwks(fast, first.accessToken)).payload.role).toBe("admin");
      const { keys } = await fast.v1.getJwks({});
      expect(keys.map((k) => k.kid)).toEqual(expect.arrayContaining([firstKid, secondKid]));
    } finally {
      await fast.stop();
    }
  });
});
