import { describe, expect, it } from "vitest";
import { loadSession, needsRefresh, saveSession, sessionKey, sessionOf, userOfToken } from "./session.js";

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const token = (claims: object) => `${b64url({ alg: "ES256" })}.${b64url(claims)}.signature`;
const access = token({ sub: "0190-user", email: "ada@example.com", role: "admin", name: "Ádá ✓" });

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
    items,
  };
}

describe("session", () => {
  it("reads who is signed in from the access token's claims", () => {
    expect(userOfToken(access)).toEqual({ id: "0190-user", email: "ada@example.com", role: "admin" });
    expect(userOfToken(token({ sub: "u" })).role).toBe("customer");
    expect(() => userOfToken("garbage")).toThrow(/not a JWT/);
  });

  it("refreshes 30 s before the access token expires", () => {
    const session = sessionOf({ accessToken: access, refreshToken: "r1", expiresIn: 900 }, 1_000_000);
    expect(session.expiresAt).toBe(1_900_000);
    expect(needsRefresh(session, 1_000_000)).toBe(false);
    expect(needsRefresh(session, 1_870_001)).toBe(true);
  });

  it("is stored and forgotten, and a damaged entry means signed out", () => {
    const storage = memoryStorage();
    const session = sessionOf({ accessToken: access, refreshToken: "r1", expiresIn: 900 });
    saveSession(storage, session);
    expect(loadSession(storage)).toEqual(session);
    saveSession(storage, undefined);
    expect(loadSession(storage)).toBeUndefined();
    storage.setItem(sessionKey, "{not json");
    expect(loadSession(storage)).toBeUndefined();
  });
});
