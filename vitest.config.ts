import { defineConfig } from "vitest/config";

/*
 * The one vitest config for the whole workspace. Packages run their own tests through it
 * (`vitest run --root ../.. <package dir>`), so every run gets the shared PostgreSQL and NATS from
 * packages/testing's global setup.
 */
export default defineConfig({
  test: {
    include: [
      "packages/**/src/**/*.test.ts",
      "packages/**/test/**/*.test.ts",
      "services/**/*.test.ts",
      "gateway/**/*.test.ts",
      "tests/**/*.test.ts",
      "web/src/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**", "**/.data/**", "**/.tools/**"],
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    pool: "forks",
    // Two cores: test files mostly wait on servers and sockets, so a little oversubscription pays.
    poolOptions: { forks: { minForks: 1, maxForks: 3 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    passWithNoTests: true,
    // Pact's native core would otherwise try to send usage statistics to an analytics service.
    env: { PACT_DO_NOT_TRACK: "true" },
    // `pnpm test` runs with --coverage; scripts/coverage.ts prints the per-package table from the summary.
    coverage: {
      provider: "v8",
      include: [
        "packages/*/src/**/*.ts",
        "services/*/src/**/*.ts",
        "gateway/src/**/*.ts",
        "web/src/**/*.{ts,tsx}",
      ],
      exclude: ["**/*.test.ts", "**/gen/**", "**/testing/**", "**/testdata/**", "**/*.d.ts", "**/main.ts"],
      reporter: ["json-summary"],
      reportsDirectory: "coverage",
      reportOnFailure: true,
    },
  },
});
