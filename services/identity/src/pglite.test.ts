import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Role } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goodPassword, startIdentity, testAdmin, uniqueEmail, verifyWithJwks } from "./testing.js";

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "identity-pglite-"));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("embedded PGlite (no DATABASE_URL)", () => {
  it("migrates, serves v1 and v2, and keeps users and keys across a restart", async () => {
    const email = uniqueEmail("embedded");
    const first = await startIdentity({ DATA_DIR: dataDir });
    expect(first.service.database.driver).toBe("pglite");
    let token: string;
    try {
      const { user } = await first.v1.register({ email, password: goodPassword, name: "Embedded" });
      expect(user?.role).toBe(Role.CUSTOMER);
      token = (await first.v1.login({ email, password: goodPassword })).accessToken;
      const refreshed = await first.v1.refreshToken({
        refreshToken: (await first.v1.login(testAdmin)).refreshToken,
      });
      expect(refreshed.accessToken).toBeTruthy();
      const v2 = await first.v2.getUser({ userId: user!.id });
      expect(v2.user?.email).toBe(email);
    } finally {
      await first.stop();
    }

    const second = await startIdentity({ DATA_DIR: dataDir });
    try {
      expect((await verifyWithJwks(second, token)).payload.email).toBe(email);
      expect((await second.v1.login({ email, password: goodPassword })).accessToken).toBeTruthy();
      const { users } = await second.v1.listUsers({});
      expect(users.map((u) => u.email).sort()).toEqual([testAdmin.email, email].sort());
    } finally {
      await second.stop();
    }
  }, 90_000); // PGlite compiles its WebAssembly on first use: slow on a busy machine
});
