import { randomBytes, randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
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

/*
 * Ports come from below the kernel's ephemeral range, so an outgoing connection (to PostgreSQL, NATS,
 * a service) can never take a port between our probe and the child's listen — the race that bind(0)
 * has. Each vitest worker (VITEST_POOL_ID) gets its own block, so concurrent test files never hand out
 * the same port; other callers take a random block.
 */
const PORT_LOW = 20_000;
const BLOCK_SIZE = 1_500;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > PORT_LOW + BLOCK_SIZE ? value : 32_768;
  } catch {
    return 32_768;
  }
}

const blockCount = Math.max(1, Math.floor((ephemeralLow() - PORT_LOW) / BLOCK_SIZE));
const poolId = Number(process.env.VITEST_POOL_ID);
const block = Number.isInteger(poolId) && poolId > 0 ? (poolId - 1) % blockCount : randomInt(blockCount);
const blockStart = PORT_LOW + block * BLOCK_SIZE;
let nextOffset = randomInt(BLOCK_SIZE);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that is free now and that no other caller in this process (or in another
 * vitest worker) is handed soon: ports are taken in turn from this process's block below the
 * ephemeral range, skipping any that something already listens on.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < BLOCK_SIZE; tried++) {
    const port = blockStart + (nextOffset % BLOCK_SIZE);
    nextOffset++;
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${blockStart}-${blockStart + BLOCK_SIZE - 1}`);
}
