import { defineConfig } from "vitest/config";

/*
 * The one vitest config for the whole workspace. Packages run their own tests through it
 * (`vitest run --root ../.. <package dir>`), so every run gets the shared PostgreSQL and NATS from
 * packages/testing's global setup.
 *
 * Two projects. The whole-system fault tests (tests/chaos) each run a complete system of 10–20
 * processes and kill parts of it; they run after everything else and one at a time. Left to the
 * default order, the biggest files start first, so on a clean checkout both of them ran side by side
 * with a third heavy file on two cores: restarts took ~10 s instead of ~1 s and their batches fell
 * short (issue 24). Everything else runs three files at a time, as before.
 */
const include = [
  "packages/**/src/**/*.test.ts",
  "packages/**/test/**/*.test.ts",
  "services/**/*.test.ts",
  "gateway/**/*.test.ts",
  "tests/**/*.test.ts",
  "web/src/**/*.test.ts",
];
const exclude = ["**/node_modules/**", "**/dist/**", "**/.data/**", "**/.tools/**"];
const faults = ["tests/chaos/**/*.test.ts"];

export default defineConfig({
  test: {
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    pool: "forks",
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
    projects: [
      {
        extends: true,
        test: {
          name: "suite",
          include,
          exclude: [...exclude, ...faults],
          // Two cores: test files mostly wait on servers and sockets, so a little oversubscription pays.
          poolOptions: { forks: { minForks: 1, maxForks: 3 } },
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "faults",
          include: faults,
          exclude,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
