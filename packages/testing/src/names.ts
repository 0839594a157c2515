import { randomBytes } from "node:crypto";
import { createServer } from "node:net";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** `n` random characters from A–Z and 0–9. */
function randomToken(n: number): string {
  const bytes = randomBytes(n);
  let s = "";
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length];
  return s;
}

/**
 * A unique name for per-test resources (JetStream streams and consumers, subjects, queues):
 * `PREFIX_<10 random upper-case letters/digits>`. Characters outside `[A-Za-z0-9_-]` in the prefix
 * become `_`, so the result is valid as a stream, consumer or subject token.
 *
 * @example uniqueName("ORDERS") // "ORDERS_K3J9Q0ZP2M"
 */
export function uniqueName(prefix: string): string {
  const clean = prefix.replace(/[^A-Za-z0-9_-]/g, "_");
  return `${clean}_${randomToken(10)}`;
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("freePort: unexpected address"));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}
