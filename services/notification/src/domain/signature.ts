/**
 * Webhook signatures. Every delivery carries
 * `Mercato-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; receivers check it
 * with {@link verifySignature} (or the same few lines in their language) before trusting the body.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Header carrying the signature. */
export const SIGNATURE_HEADER = "Mercato-Signature";
/** Header carrying the event id: receivers deduplicate on it. */
export const EVENT_ID_HEADER = "Mercato-Event-Id";

/** A new webhook signing secret: `whsec_` + 32 random bytes, base64url. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

function hmacHex(secret: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac("sha256", secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return mac.digest("hex");
}

/** The `Mercato-Signature` value for `body` signed at `timestamp` (unix seconds, default now). */
export function signatureHeader(
  secret: string,
  body: string | Uint8Array,
  timestamp: number = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

/**
 * Checks a `Mercato-Signature` header against the raw request body: the timestamp must be within
 * `toleranceSeconds` of now (replay protection) and one of the `v1` signatures must match the
 * HMAC-SHA256 of `"<t>.<body>"` under `secret`. Compares in constant time.
 *
 * @param body - the raw body exactly as received (not re-serialized JSON)
 * @param nowSeconds - the current unix time (for tests)
 * @returns true only for an authentic, fresh delivery
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string | Uint8Array,
  toleranceSeconds = 300,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  if (header === undefined || header === "") return false;
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), "hex");
  return candidates.some((candidate) => timingSafeEqual(expected, Buffer.from(candidate, "hex")));
}
