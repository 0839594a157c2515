/**
 * Opaque page tokens for keyset pagination. A token carries the sort key of the last item of a page
 * and a fingerprint of the listing it belongs to (what is listed, the sort order and the filters), so
 * a token used with another sort or other filters is rejected instead of silently skipping or
 * repeating items. No I/O.
 */
import { createHash } from "node:crypto";

/** One value of a sort key: text, a number, or an integer carried as a decimal string. */
export type KeyValue = string | number;

interface TokenBody {
  readonly v: 1;
  /** Fingerprint of the listing. */
  readonly f: string;
  /** Sort key of the last item returned. */
  readonly k: readonly KeyValue[];
}

/** A short, stable fingerprint of a listing's parameters. */
export function listingFingerprint(parts: readonly (string | number)[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 16);
}

/** Encodes the position after an item whose sort key is `key`. */
export function encodePageToken(fingerprint: string, key: readonly KeyValue[]): string {
  const body: TokenBody = { v: 1, f: fingerprint, k: key };
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
}

/**
 * Decodes a page token; undefined when it is malformed, or was made for another listing, or its key
 * does not have the `shape` expected ("s" text, "n" finite number, "i" decimal integer string).
 */
export function decodePageToken(
  token: string,
  fingerprint: string,
  shape: readonly ("s" | "n" | "i")[],
): KeyValue[] | undefined {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const { v, f, k } = body as Partial<TokenBody>;
  if (v !== 1 || f !== fingerprint || !Array.isArray(k) || k.length !== shape.length) return undefined;
  for (const [i, kind] of shape.entries()) {
    const value: unknown = k[i];
    if (kind === "s" && typeof value !== "string") return undefined;
    if (kind === "n" && (typeof value !== "number" || !Number.isFinite(value))) return undefined;
    if (kind === "i" && (typeof value !== "string" || !/^-?\d{1,19}$/.test(value))) return undefined;
  }
  return [...k];
}
