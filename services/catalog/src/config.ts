import { type ConfigOf, loadConfig as parse, serviceSettings } from "@mercato/platform/config";

/** The catalog's settings: only the shared ones so far. */
export const catalogSettings = {
  ...serviceSettings("catalog", 50052),
} as const;

export type CatalogConfig = ConfigOf<typeof catalogSettings>;

/** Reads the catalog's configuration from `env` (the process environment by default). */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): CatalogConfig {
  return parse(catalogSettings, env);
}
