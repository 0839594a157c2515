/**
 * Signing keys at rest: sealed under the KEK from configuration, so a database dump alone yields no
 * usable private key; keys written in the clear by an older version are sealed at start-up; a KEK
 * rotation re-seals every key and old tokens keep verifying; a missing KEK stops start-up clearly.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { postgresBinDir, testDatabaseUrl, withDatabase } from "@mercato/testing";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { formatKek, generateKek, type Kek, openPrivateKey } from "./domain/kek.js";
import { identityService } from "./server.js";
import { startIdentity, testAdmin, verifyWithJwks } from "./testing.js";

interface KeyRow {
  kid: string;
  private_jwk: Record<string, string> | null;
  sealed_private_key: string | null;
  kek_id: string | null;
}

const keyRows = (url: string) =>
  withDatabase(
    url,
    (sql) => sql<KeyRow[]>`select kid, private_jwk, sealed_private_key, kek_id from signing_keys`,
  );

const running: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => undefined);
});

async function start(url: string, kek: Kek, previous: Kek[] = []) {
  const identity = await startIdentity({
    DATABASE_URL: url,
    IDENTITY_KEK: formatKek(kek),
    IDENTITY_PREVIOUS_KEKS: previous.map(formatKek).join(","),
  });
  running.push(identity);
  return identity;
}

describe("signing keys at rest", () => {
  it("a database dump alone yields no usable private key", async () => {
    const url = await testDatabaseUrl("identity_dump");
    const kek = generateKek("dump");
    const identity = await start(url, kek);
    const { accessToken } = await identity.v1.login(testAdmin);
    await verifyWithJwks(identity, accessToken);

    const rows = await keyRows(url);
    expect(rows.length).toBeGreaterThanOrEqual(2); // the active key and its published successor
    const dump = execFileSync(
      join(postgresBinDir(), "pg_dump"),
      ["--data-only", "--table=signing_keys", url],
      {
        encoding: "utf8",
      },
    );
    for (const row of rows) {
      expect(row).toMatchObject({ private_jwk: null, kek_id: "dump" });
      // With the KEK the key opens; the dump holds neither its private scalar nor any "d" member.
      const jwk = openPrivateKey(row.sealed_private_key!, row.kid, kek);
      expect(jwk.d).toMatch(/^[\w-]{43}$/);
      expect(dump).not.toContain(jwk.d!);
      expect(dump).not.toContain(Buffer.from(jwk.d!, "base64url").toString("hex"));
      expect(dump).toContain(row.sealed_private_key!);
      // Without it (any other key of the same id) the dump's value is useless.
      expect(() => openPrivateKey(row.sealed_private_key!, row.kid, generateKek("dump"))).toThrow(
        /does not open/,
      );
    }
    expect(dump).not.toMatch(/"d"\s*:/);
  });

  it("seals keys an older version stored in the clear, at start-up, and their tokens keep verifying", async () => {
    const url = await testDatabaseUrl("identity_legacy");
    const kek = generateKek("legacy");
    const first = await start(url, kek);
    const { accessToken } = await first.v1.login(testAdmin);
    await first.stop();
    // What a version before sealing left behind: the private JWK in the clear, nothing sealed.
    for (const row of await keyRows(url)) {
      const jwk = openPrivateKey(row.sealed_private_key!, row.kid, kek);
      await withDatabase(
        url,
        (sql) =>
          sql`update signing_keys set private_jwk = ${sql.json(jwk as never)}, sealed_private_key = null, kek_id = null where kid = ${row.kid}`,
      );
    }
    expect((await keyRows(url)).every((r) => r.private_jwk !== null)).toBe(true);

    const second = await start(url, kek);
    const rows = await keyRows(url);
    expect(rows.every((r) => r.private_jwk === null && r.kek_id === "legacy" && r.sealed_private_key)).toBe(
      true,
    );
    expect((await verifyWithJwks(second, accessToken)).payload.email).toBe(testAdmin.email);
    const fresh = await second.v1.login(testAdmin);
    await verifyWithJwks(second, fresh.accessToken);
  });

  it("rotates the KEK: previous KEKs still open, every key is re-sealed, old tokens verify, and then the old KEK can go", async () => {
    const url = await testDatabaseUrl("identity_kek");
    const oldKek = generateKek("kek-1");
    const newKek = generateKek("kek-2");
    const first = await start(url, oldKek);
    const before = await first.v1.login(testAdmin);
    await first.stop();

    // Step 1: the new KEK is current, the old one only opens. Start-up re-seals everything.
    const second = await start(url, newKek, [oldKek]);
    expect((await keyRows(url)).map((r) => r.kek_id)).toEqual(expect.arrayContaining(["kek-2"]));
    expect((await keyRows(url)).every((r) => r.kek_id === "kek-2")).toBe(true);
    expect((await verifyWithJwks(second, before.accessToken)).payload.email).toBe(testAdmin.email);
    await second.stop();

    // Step 2: the old KEK is removed from the configuration; nothing needs it any more.
    const third = await start(url, newKek);
    expect((await verifyWithJwks(third, before.accessToken)).payload.email).toBe(testAdmin.email);
    const after = await third.v1.login(testAdmin);
    expect((await verifyWithJwks(third, after.accessToken)).kid).toBe(
      (await verifyWithJwks(third, before.accessToken)).kid,
    );
    await third.stop();

    // Only the retired KEK: start-up stops, naming the KEK it lacks.
    await expect(start(url, oldKek)).rejects.toThrow(
      /sealed with KEK "kek-2", which is neither IDENTITY_KEK/,
    );
  });

  it("refuses to start without a KEK, or with a malformed one, listing the problem", () => {
    const base = { DATABASE_URL: "postgres://x@127.0.0.1:1/x" };
    expect(() => loadConfig(base)).toThrow(/IDENTITY_KEK is required/);
    expect(() => loadConfig({ ...base, IDENTITY_KEK: "k:c2hvcnQ=" })).toThrow(
      'IDENTITY_KEK key "k" must be 32 bytes (256 bits), not 5',
    );
    const kek = formatKek(generateKek("same"));
    expect(() => loadConfig({ ...base, IDENTITY_KEK: kek, IDENTITY_PREVIOUS_KEKS: kek })).toThrow(
      'KEK id "same" is used twice',
    );
    expect(identityService(loadConfig({ ...base, IDENTITY_KEK: kek })).config.kek?.id).toBe("same");
    // The migration Job migrates without it.
    expect(loadConfig({ ...base, MIGRATE_ONLY: "true" }).kek).toBeUndefined();
  });
});
