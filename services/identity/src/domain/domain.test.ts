import { createLocalJWKSet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { formatKek, generateKek, kekRing, openPrivateKey, parseKek, sealPrivateKey } from "./kek.js";
import { hashPassword, verifyPassword } from "./password.js";
import {
  checkAvatarUrl,
  checkCurrency,
  checkEmail,
  checkLocale,
  checkName,
  checkPassword,
  checkUserId,
  decodePageToken,
  effectivePageSize,
  encodePageToken,
  loginDelayMs,
  loginFailureResetMs,
  loginThrottle,
} from "./rules.js";
import {
  activeKey,
  createSigningKey,
  hashRefreshToken,
  newRefreshToken,
  publishedKeys,
  signAccessToken,
} from "./tokens.js";

const policy = { signingPeriodMs: 24 * 3600_000, accessTokenTtlMs: 15 * 60_000 };

describe("passwords", () => {
  it("verifies the right password and rejects a wrong one", async () => {
    const stored = await hashPassword("correct horse battery");
    expect(stored.startsWith("scrypt$16384$8$1$")).toBe(true);
    expect(await verifyPassword("correct horse battery", stored)).toBe(true);
    expect(await verifyPassword("correct horse batterY", stored)).toBe(false);
    expect(await verifyPassword("x", "not-a-hash")).toBe(false);
  });

  it("salts: the same password hashes differently", async () => {
    expect(await hashPassword("same password 1")).not.toBe(await hashPassword("same password 1"));
  });
});

describe("rules", () => {
  it("checks emails, names and the password policy", () => {
    expect(checkEmail("a@b.co")).toEqual([]);
    expect(checkEmail("nope")[0]?.field).toBe("email");
    expect(checkEmail("  ")[0]?.description).toBe("must not be empty");
    expect(checkName(" ")).toEqual([{ field: "name", description: "must not be empty" }]);
    expect(checkPassword("short", "a@b.co")).toHaveLength(1);
    expect(checkPassword("aaaaaaaaaaaa", "a@b.co")).toHaveLength(1);
    expect(checkPassword("a@b.co.long", "A@B.co.long")).toHaveLength(1);
    expect(checkPassword("a good long passphrase", "a@b.co")).toEqual([]);
  });

  it("grows the login delay after repeated failures, with a cap", () => {
    expect([0, 1, 2].map(loginDelayMs)).toEqual([0, 0, 0]);
    expect(loginDelayMs(3)).toBe(1000);
    expect(loginDelayMs(5)).toBe(4000);
    expect(loginDelayMs(50)).toBe(30_000);
  });
});

describe("login throttle", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  const ago = (ms: number) => new Date(now.getTime() - ms);

  it("lets attempts through until the delay earned by the streak has passed since the last failure", () => {
    expect(loginThrottle(undefined, now)).toEqual({ failures: 0, retryAfterMs: 0 });
    expect(loginThrottle({ failures: 2, lastFailureAt: ago(0) }, now)).toEqual({
      failures: 2,
      retryAfterMs: 0,
    });
    expect(loginThrottle({ failures: 3, lastFailureAt: ago(400) }, now)).toEqual({
      failures: 3,
      retryAfterMs: 600,
    });
    expect(loginThrottle({ failures: 3, lastFailureAt: ago(1000) }, now).retryAfterMs).toBe(0);
    expect(loginThrottle({ failures: 40, lastFailureAt: ago(0) }, now).retryAfterMs).toBe(30_000);
  });

  it("forgets an old streak, so no lockout is permanent", () => {
    expect(loginThrottle({ failures: 40, lastFailureAt: ago(loginFailureResetMs) }, now)).toEqual({
      failures: 0,
      retryAfterMs: 0,
    });
  });
});

describe("v2 profile rules and paging", () => {
  it("checks avatar URLs, locales, currencies and user ids", () => {
    expect(checkAvatarUrl("")).toEqual([]);
    expect(checkAvatarUrl("https://a.example/x.png")).toEqual([]);
    expect(checkAvatarUrl("http://a.example/x.png")[0]?.field).toBe("profile.avatar_url");
    expect(checkAvatarUrl("nope")).toHaveLength(1);
    expect(checkLocale("en-gb")).toEqual([]);
    expect(checkLocale("not a locale")).toHaveLength(1);
    expect(checkCurrency("eur")).toEqual([]);
    expect(checkCurrency("EURO")).toHaveLength(1);
    expect(checkUserId("")[0]?.description).toBe("must not be empty");
    expect(checkUserId("1234")).toHaveLength(1);
    expect(checkUserId("0190f5a8-7a3c-7cc2-9b1e-0d3c2f1a4b5c")).toEqual([]);
  });

  it("round-trips page tokens and rejects foreign ones", () => {
    const cursor = { after: "0190f5a8-7a3c-7cc2-9b1e-0d3c2f1a4b5c", query: "ada" };
    expect(decodePageToken(encodePageToken(cursor))).toEqual(cursor);
    expect(decodePageToken("garbage")).toBeUndefined();
    expect(decodePageToken(Buffer.from('{"a":"x","q":""}').toString("base64url"))).toBeUndefined();
    expect([0, -1, 10, 500].map(effectivePageSize)).toEqual([50, 50, 10, 200]);
  });
});

describe("signing keys and tokens", () => {
  it("signs ES256 tokens with kid, iss, aud, exp, sub and role that verify against the JWKS", async () => {
    const now = new Date();
    const key = await createSigningKey(now, policy);
    const token = await signAccessToken(
      key,
      { userId: "u1", role: "admin", email: "a@b.co", accessVersion: 3, sessionId: "f1" },
      { issuer: "mercato-identity", audience: "mercato" },
      now,
      policy.accessTokenTtlMs,
    );
    const jwks = createLocalJWKSet({ keys: publishedKeys([key], now).map((k) => k.publicJwk) });
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: "mercato-identity",
      audience: "mercato",
      algorithms: ["ES256"],
    });
    expect(protectedHeader.kid).toBe(key.kid);
    expect(payload).toMatchObject({ sub: "u1", role: "admin", email: "a@b.co", ver: 3, sid: "f1" });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(JSON.stringify(key.publicJwk)).not.toContain('"d"');
  });

  it("rotates with an overlap: the old key stays published after a new one signs", async () => {
    const t0 = new Date("2026-01-01T00:00:00Z");
    const first = await createSigningKey(t0, policy);
    const t1 = new Date(first.rotatesAt.getTime());
    const second = await createSigningKey(t1, policy);
    expect(activeKey([first, second], t0)?.kid).toBe(first.kid);
    expect(activeKey([first, second], t1)?.kid).toBe(second.kid);
    expect(publishedKeys([first, second], new Date(t1.getTime() + 60_000)).map((k) => k.kid)).toEqual([
      first.kid,
      second.kid,
    ]);
    expect(publishedKeys([first, second], first.expiresAt).map((k) => k.kid)).toEqual([second.kid]);
  });

  it("stores refresh tokens only as hashes", () => {
    const { token, hash } = newRefreshToken();
    expect(hash).toBe(hashRefreshToken(token));
    expect(hash).not.toContain(token);
  });
});

describe("key-encryption keys", () => {
  it("parses <id>:<base64 of 32 bytes> and says what is wrong without echoing the key", () => {
    const kek = generateKek("k1");
    expect(parseKek(formatKek(kek))).toEqual(kek);
    expect(parseKek(`k1:${kek.key.toString("base64url")}`).key.equals(kek.key)).toBe(true);
    expect(() => parseKek(kek.key.toString("base64"))).toThrow(/<id>:<base64 key>/);
    expect(() => parseKek("k1:c2hvcnQ=")).toThrow('key "k1" must be 32 bytes (256 bits), not 5');
    expect(() => parseKek("k1:not base64!")).toThrow('key "k1" is not base64');
    expect(() => kekRing(kek, [generateKek("k1")])).toThrow('KEK id "k1" is used twice');
  });

  it("seals a private key so only the same KEK, for the same kid, opens it; any change is detected", async () => {
    const key = await createSigningKey(new Date(), policy);
    const kek = generateKek("k1");
    const sealed = sealPrivateKey(key.privateJwk, key.kid, kek);
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain(key.privateJwk.d!);
    expect(openPrivateKey(sealed, key.kid, kek)).toEqual(key.privateJwk);
    expect(() => openPrivateKey(sealed, key.kid, generateKek("k1"))).toThrow(/does not open with KEK "k1"/);
    expect(() => openPrivateKey(sealed, "another-kid", kek)).toThrow(/does not open/);
    const [format, iv, body, tag] = sealed.split(".");
    const flipped = `${body![0] === "A" ? "B" : "A"}${body!.slice(1)}`;
    expect(() => openPrivateKey([format, iv, flipped, tag].join("."), key.kid, kek)).toThrow(/tampered/);
  });
});
