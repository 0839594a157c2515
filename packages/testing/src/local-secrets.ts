import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * identity's key-encryption key for a data folder: read from `<dataDir>/identity-kek`, made (random,
 * owner-only) on first use, so a local run's sealed signing keys open again on the next start.
 */
export function localIdentityKek(dataDir: string): string {
  const file = join(dataDir, "identity-kek");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const kek = `local-${randomBytes(3).toString("hex")}:${randomBytes(32).toString("base64")}`;
  writeFileSync(file, `${kek}\n`, { mode: 0o600 });
  return kek;
}
