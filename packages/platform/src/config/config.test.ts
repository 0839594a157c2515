import { describe, expect, it } from "vitest";
import {
  ConfigError,
  flag,
  integer,
  loadConfig,
  oneOf,
  optionalUrl,
  port,
  serviceSettings,
  text,
} from "./index.js";

describe("loadConfig", () => {
  const schema = {
    name: text("NAME"),
    workers: integer("WORKERS", { default: 4, min: 1, max: 64 }),
    port: port("PORT"),
    verbose: flag("VERBOSE", { default: false }),
    mode: oneOf("MODE", ["a", "b"], { default: "a" }),
    database: optionalUrl("DB", ["postgres:"]),
  };

  it("parses typed values and applies defaults", () => {
    const config = loadConfig(schema, { NAME: "x", PORT: "8080", VERBOSE: "yes", DB: "postgres://h/db" });
    expect(config).toEqual({
      name: "x",
      workers: 4,
      port: 8080,
      verbose: true,
      mode: "a",
      database: "postgres://h/db",
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reports every problem in one error", () => {
    let error: unknown;
    try {
      loadConfig(schema, { PORT: "99999", WORKERS: "two", MODE: "c", VERBOSE: "maybe", DB: "mysql://h" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual([
      "NAME is required",
      'WORKERS must be an integer, got "two"',
      "PORT must be at most 65535",
      'VERBOSE must be true or false, got "maybe"',
      'MODE must be one of a, b, got "c"',
      "DB must use postgres:",
    ]);
    expect((error as Error).message).toContain("NAME is required");
  });

  it("gives every service the shared settings with service-specific defaults", () => {
    const config = loadConfig(serviceSettings("catalog", 50052), {
      DATABASE_URL: "postgres://catalog@db:5432/mercato_catalog",
    });
    expect(config.serviceName).toBe("catalog");
    expect(config.grpcPort).toBe(50052);
    expect(config.adminPort).toBe(51052);
    expect(config.mesh).toBe("none");
    expect(config.databaseUrl).toBe("postgres://catalog@db:5432/mercato_catalog");
  });

  it("requires a PostgreSQL server: there is no embedded database", () => {
    expect(() => loadConfig(serviceSettings("catalog", 50052), {})).toThrow("DATABASE_URL is required");
  });
});
