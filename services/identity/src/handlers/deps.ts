import type { Database } from "@mercato/platform/db";
import type { Logger } from "@mercato/platform/log";
import type { IdentityConfig } from "../config.js";
import type { IdentitySchema } from "../db/schema.js";
import type { KeyRing } from "../db/signing-keys.js";

/** What identity's handlers need. */
export interface HandlerDeps {
  readonly config: IdentityConfig;
  readonly database: Database<IdentitySchema>;
  readonly logger: Logger;
  readonly keys: KeyRing;
  /** The time; tests may move it. */
  readonly clock: () => Date;
}
