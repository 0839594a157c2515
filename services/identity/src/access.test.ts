/**
 * What lets rights follow changes before tokens expire: tokens carry the user's access version
 * (`ver`) and session (`sid`); a role change, a password change and a revoked session raise the
 * version in the same transaction and emit UserAccessChanged; GetUserAccess answers what the edge
 * checks. And sessions end after their absolute lifetime, however often they are refreshed.
 */
import { UserAccessChangedSchema } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { Role } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refreshTokens } from "./db/schema.js";
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

const FAMILY_MAX_AGE_S = 300;
const IDLE_TTL_S = 120;

let identity: TestIdentity;
let adminId: string;
const clock = new TestClock();

beforeAll(async () => {
  identity = await startIdentity(
    {
      REFRESH_FAMILY_MAX_AGE_SECONDS: String(FAMILY_MAX_AGE_S),
      REFRESH_TOKEN_TTL_SECONDS: String(IDLE_TTL_S),
    },
    { clock: clock.now },
  );
  adminId = (await verifyWithJwks(identity, (await identity.v1.login(testAdmin)).accessToken)).payload.sub!;
});

afterAll(async () => {
  clock.release();
  await identity?.stop();
});

async function customer(label: string) {
  const email = uniqueEmail(label);
  const { user } = await identity.v1.register({ email, password: goodPassword, name: "Access Test" });
  return { id: user!.id, email };
}

const claims = async (token: string) => (await verifyWithJwks(identity, token)).payload;

async function accessChanges(userId: string) {
  return eventually(async () => {
    const found = await eventsOn(
      identity.nats,
      subjects.userAccessChanged,
      UserAccessChangedSchema,
      (e) => e.userId === userId,
    );
    return found.length > 0 ? found : undefined;
  });
}

describe("the access version", () => {
  it("is in every token with the session, and GetUserAccess answers it with the role", async () => {
    const user = await customer("ver");
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    const payload = await claims(login.accessToken);
    expect(payload).toMatchObject({ sub: user.id, role: "customer", ver: 0 });
    const [family] = await identity.service.database.db
      .select({ familyId: refreshTokens.familyId })
      .from(refreshTokens)
      .where(eq(refreshTokens.userId, user.id));
    expect(payload.sid).toBe(family!.familyId);
    const refreshed = await identity.v1.refreshToken({ refreshToken: login.refreshToken });
    expect((await claims(refreshed.accessToken)).sid).toBe(family!.familyId);
    expect(await identity.v1.getUserAccess({ userId: user.id })).toMatchObject({
      role: Role.CUSTOMER,
      accessVersion: 0n,
    });
  });

  it("grows with a role change, emitting UserAccessChanged; the next token carries both", async () => {
    const user = await customer("promote");
    await identity.v1.updateUser({ userId: user.id, role: Role.ADMIN }, as({ id: adminId }, "admin"));
    expect(await identity.v1.getUserAccess({ userId: user.id })).toMatchObject({
      role: Role.ADMIN,
      accessVersion: 1n,
    });
    const [event] = (await accessChanges(user.id))!;
    expect(event).toMatchObject({ accessVersion: 1n, role: Role.ADMIN, reason: "role_changed" });
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    expect(await claims(login.accessToken)).toMatchObject({ role: "admin", ver: 1 });
    // A change that grants nothing new (the name) leaves the version alone.
    await identity.v1.updateUser({ userId: user.id, name: "Renamed" }, as({ id: adminId }, "admin"));
    expect((await identity.v1.getUserAccess({ userId: user.id })).accessVersion).toBe(1n);
  });

  it("grows with a password change", async () => {
    const user = await customer("password");
    await identity.v1.updateUser(
      { userId: user.id, password: "another long secret", currentPassword: goodPassword },
      as({ id: user.id }),
    );
    expect((await identity.v1.getUserAccess({ userId: user.id })).accessVersion).toBe(1n);
    expect((await accessChanges(user.id))![0]).toMatchObject({ reason: "password_changed" });
  });

  it("grows when a spent refresh token comes back and its family is revoked", async () => {
    const user = await customer("reuse");
    const login = await identity.v1.login({ email: user.email, password: goodPassword });
    await identity.v1.refreshToken({ refreshToken: login.refreshToken });
    await callError(identity.v1.refreshToken({ refreshToken: login.refreshToken }));
    expect((await identity.v1.getUserAccess({ userId: user.id })).accessVersion).toBe(1n);
    expect((await accessChanges(user.id))![0]).toMatchObject({
      reason: "session_revoked",
      accessVersion: 1n,
    });
  });

  it("answers NOT_FOUND for a deleted user and for anything that is not a user id", async () => {
    const user = await customer("gone");
    await identity.v1.deleteUser({ userId: user.id }, as({ id: user.id }));
    for (const userId of [user.id, "", "not-a-uuid"]) {
      expect((await callError(identity.v1.getUserAccess({ userId }))).code).toBe(status.NOT_FOUND);
    }
  });
});

describe("sessions", () => {
  it("end after their absolute lifetime, however often they are refreshed", async () => {
    const user = await customer("family");
    clock.freeze();
    try {
      const login = await identity.v1.login({ email: user.email, password: goodPassword });
      let refreshToken = login.refreshToken;
      // Refreshing well within the idle lifetime keeps the session going…
      for (let elapsed = 0; elapsed + 100 < FAMILY_MAX_AGE_S; elapsed += 100) {
        clock.advance(100_000);
        refreshToken = (await identity.v1.refreshToken({ refreshToken })).refreshToken;
      }
      // …and the last token never outlives the family, though its idle lifetime would reach further.
      const rows = await identity.service.database.db
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.userId, user.id));
      const familyEnd = rows[0]!.familyExpiresAt.getTime();
      expect(rows.every((r) => r.familyExpiresAt.getTime() === familyEnd)).toBe(true);
      expect(rows.every((r) => r.expiresAt.getTime() <= familyEnd)).toBe(true);
      clock.advance(familyEnd - clock.now().getTime());
      const ended = await callError(identity.v1.refreshToken({ refreshToken }));
      expect(ended.code).toBe(status.UNAUTHENTICATED);
      // A new login starts a new session.
      const again = await identity.v1.login({ email: user.email, password: goodPassword });
      expect((await identity.v1.refreshToken({ refreshToken: again.refreshToken })).accessToken).toBeTruthy();
    } finally {
      clock.release();
    }
  });
});
