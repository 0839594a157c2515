/** The background task that releases expired reservations every `intervalMs`. */
import type { Database } from "@mercato/platform/db";
import type { Logger } from "@mercato/platform/log";
import type { BackgroundTask } from "@mercato/platform/service";
import type { InventorySchema } from "./db/schema.js";
import { sweepExpired } from "./operations.js";

export interface SweeperOptions {
  readonly database: Database<InventorySchema>;
  readonly logger: Logger;
  readonly intervalMs: number;
  readonly batchSize: number;
}

/**
 * Starts sweeping: each round releases expired reservations batch by batch until none is left,
 * then waits `intervalMs`. A failing round is logged and retried next round. `stop()` waits for
 * the round in progress.
 */
export function startSweeper({ database, logger, intervalMs, batchSize }: SweeperOptions): BackgroundTask {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;

  const sweep = async () => {
    try {
      let released = 0;
      for (;;) {
        const n = await sweepExpired(database, batchSize);
        released += n;
        if (n < batchSize || stopped) break;
      }
      if (released > 0) logger.info({ released }, "expired reservations released");
    } catch (error) {
      logger.warn({ err: error }, "reservation sweep failed; retrying next round");
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      round = sweep().finally(schedule);
    }, intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
