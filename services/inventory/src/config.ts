import { type ConfigOf, integer, loadConfig as parse, serviceSettings } from "@mercato/platform/config";

/** Inventory's settings: the shared ones plus reservation and low-stock tuning. */
export const inventorySettings = {
  ...serviceSettings("inventory", 50053),
  defaultTtlSeconds: integer("RESERVATION_DEFAULT_TTL_SECONDS", {
    default: 900,
    min: 1,
    description: "How long a reservation holds stock when the request gives no ttl_seconds",
  }),
  maxTtlSeconds: integer("RESERVATION_MAX_TTL_SECONDS", {
    default: 86_400,
    min: 1,
    description: "Longest ttl_seconds a Reserve may ask for",
  }),
  sweepIntervalMs: integer("RESERVATION_SWEEP_INTERVAL_MS", {
    default: 5_000,
    min: 10,
    description: "Pause between sweeps that release expired reservations",
  }),
  sweepBatchSize: integer("RESERVATION_SWEEP_BATCH_SIZE", {
    default: 100,
    min: 1,
    max: 10_000,
    description: "Expired reservations released per sweeper transaction",
  }),
  lowStockThreshold: integer("STOCK_LOW_THRESHOLD", {
    default: 5,
    min: 0,
    description: "StockLow is emitted when a SKU's available units fall to or below this",
  }),
} as const;

export type InventoryConfig = ConfigOf<typeof inventorySettings>;

/** Reads inventory's configuration from `env` (the process environment by default). */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): InventoryConfig {
  return parse(inventorySettings, env);
}
