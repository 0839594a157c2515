/**
 * Key-encryption keys (KEKs): identity's private signing keys are stored sealed with AES-256-GCM under
 * a KEK that comes from configuration (a Kubernetes Secret; generated for local runs and tests), so a
 * dump of the database alone yields no usable private key. The sealed value is bound to its key id and
 * KEK id (additional authenticated data): it cannot be moved to another row or passed off under
 * another KEK. No I/O.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { JWK } from "jose";

/** One KEK: an id (stored next to what it sealed) and 32 bytes of key. */
export interface Kek {
  readonly id: string;
  readonly key: Buffer;
}

/** The KEK that seals new keys, and every KEK that may still open stored ones. */
export interface KekRing {
  readonly current: Kek;
  /** Every usable KEK by id, the current one included. */
  readonly byId: ReadonlyMap<string, Kek>;
}

const ID = /^[A-Za-z0-9_-]{1,32}$/;
const FORMAT = "v1";

/**
 * Parses `<id>:<base64 of 32 bytes>` (standard or URL-safe base64), e.g. the output of
 * `echo "kek-2025:$(openssl rand -base64 32)"`.
 *
 * @throws Error saying what is wrong (never echoing the key)
 */
export function parseKek(text: string): Kek {
  const colon = text.indexOf(":");
  const id = colon < 0 ? "" : text.slice(0, colon).trim();
  const encoded = colon < 0 ? "" : text.slice(colon + 1).trim();
  if (!ID.test(id)) throw new Error("must be <id>:<base64 key> with an id of 1–32 letters, digits, - or _");
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new Error(`key "${id}" is not base64`);
  const key = Buffer.from(encoded.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes (256 bits), not ${key.length}`);
  return { id, key };
}

/**
 * The ring of `current` and `previous` (older KEKs, still accepted for opening).
 *
 * @throws Error when two KEKs share an id
 */
export function kekRing(current: Kek, previous: readonly Kek[] = []): KekRing {
  const byId = new Map<string, Kek>();
  for (const kek of [current, ...previous]) {
    if (byId.has(kek.id)) throw new Error(`KEK id "${kek.id}" is used twice`);
    byId.set(kek.id, kek);
  }
  return { current, byId };
}

/** A fresh random KEK (local runs and tests). */
export function generateKek(id = `local-${randomBytes(4).toString("hex")}`): Kek {
  return { id, key: randomBytes(32) };
}

/** The text form {@link parseKek} reads. */
export function formatKek(kek: Kek): string {
  return `${kek.id}:${kek.key.toString("base64")}`;
}

const aad = (kid: string, kekId: string) => Buffer.from(`mercato-identity:signing-key:${kid}:${kekId}`);

/** Seals a private JWK of key `kid` under `kek`: `v1.<iv>.<ciphertext>.<tag>` (base64url). */
export function sealPrivateKey(jwk: JWK, kid: string, kek: Kek): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek.key, iv);
  cipher.setAAD(aad(kid, kek.id));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(jwk), "utf8"), cipher.final()]);
  const parts = [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64url"));
  return [FORMAT, ...parts].join(".");
}

/**
 * Opens what {@link sealPrivateKey} sealed.
 *
 * @throws Error when the value was not sealed for `kid` under `kek`, or was changed
 */
export function openPrivateKey(sealed: string, kid: string, kek: Kek): JWK {
  const [format, iv, ciphertext, tag, ...rest] = sealed.split(".");
  if (format !== FORMAT || !iv || !ciphertext || !tag || rest.length > 0) {
    throw new Error(`signing key ${kid}: unknown sealed format`);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", kek.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(aad(kid, kek.id));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    const plain = Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]);
    return JSON.parse(plain.toString("utf8")) as JWK;
  } catch (error) {
    throw new Error(`signing key ${kid} does not open with KEK "${kek.id}" (wrong key or tampered)`, {
      cause: error,
    });
  }
}
