/**
 * The image's contents run. No Docker engine exists on the build machines, so this performs the
 * Dockerfile's build step (`pnpm deploy --legacy --filter @mercato/<svc> --prod <dir>`) into a temporary
 * folder and starts the service from it the way the image does (`node --import tsx src/main.ts`, cwd =
 * the folder), as uid 10001 with the folder owned by root and not writable (as in the image with a
 * read-only root filesystem; only TMPDIR is writable). identity runs its MIGRATE_ONLY mode, then serves;
 * the gateway, started from its own folder, reaches identity over gRPC and serves its JWKS.
 */

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  type SpawnedProcess,
  spawnProcess,
  testDatabaseUrl,
  testNatsUrl,
  waitFor,
} from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { componentDir, repo } from "./support.js";

const APP_UID = 10001;
const asRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), "mercato-image-"));
const writable = join(base, "tmp");
const running: SpawnedProcess[] = [];

/** The Dockerfile's build step for one service, into `<base>/<service>`. */
function deploy(service: string): string {
  const out = join(base, service);
  execFileSync(
    "pnpm",
    ["deploy", "--legacy", "--offline", "--filter", `@mercato/${service}`, "--prod", out],
    { cwd: repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true" } },
  );
  return out;
}

/** Starts `node --import tsx src/main.ts` in `dir` as the image's user. */
function start(dir: string, env: Record<string, string>): SpawnedProcess {
  const child = spawnProcess(process.execPath, ["--enable-source-maps", "--import", "tsx", "src/main.ts"], {
    cwd: dir,
    env: {
      // Only what the chart sets: nothing from the developer's shell leaks in.
      DATABASE_URL: undefined,
      NATS_URL: undefined,
      NODE_OPTIONS: undefined,
      NODE_ENV: "production",
      HOME: writable,
      TMPDIR: writable,
      LOG_LEVEL: "warn",
      ...env,
    },
    ...(asRoot ? { uid: APP_UID, gid: APP_UID } : {}),
    exitSignal: "SIGKILL",
  });
  running.push(child);
  return child;
}

async function ready(child: SpawnedProcess, adminPort: number): Promise<void> {
  await waitFor(
    async () => {
      if (!child.running) throw new Error(`exited before it was ready:\n${child.output().slice(-3000)}`);
      try {
        return (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok;
      } catch {
        return false;
      }
    },
    { timeoutMs: 60_000, intervalMs: 200, failFast: true },
  );
}

const folders = new Map<string, string>();

beforeAll(() => {
  chmodSync(base, 0o755);
  mkdirSync(writable);
  if (asRoot) chownSync(writable, APP_UID, APP_UID);
  for (const service of ["identity", "gateway"]) folders.set(service, deploy(service));
  // As in the image: root owns the code, the app user cannot change it.
  if (asRoot) execFileSync("chmod", ["-R", "go-w", ...folders.values()]);
}, 240_000);

afterAll(async () => {
  await Promise.all(running.map((child) => child.stop(5_000)));
  rmSync(base, { recursive: true, force: true });
});

describe("image contents (pnpm deploy)", () => {
  it("declare tsx, the runtime loader, as a production dependency of every service", () => {
    const missing: string[] = [];
    for (const dir of [
      ...["identity", "catalog", "inventory", "order", "payment", "shipping", "notification"]
        .map((s) => componentDir(s))
        .filter((d) => existsSync(join(d, "src/main.ts"))),
      componentDir("gateway"),
    ]) {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (!pkg.dependencies?.tsx) missing.push(pkg.name);
    }
    expect(
      missing,
      "add tsx (catalog:) to `dependencies` of these packages: the image runs node --import tsx",
    ).toEqual([]);
  });

  it("hold the service's code, its workspace packages where Tilt syncs them, and tsx", () => {
    for (const [service, dir] of folders) {
      expect(existsSync(join(dir, "src/main.ts")), service).toBe(true);
      expect(existsSync(join(dir, "node_modules/tsx/package.json")), `${service}: tsx`).toBe(true);
      expect(
        existsSync(
          join(
            dir,
            "node_modules/.pnpm/@mercato+platform@file+packages+platform/node_modules/@mercato/platform/src",
          ),
        ),
        `${service}: platform`,
      ).toBe(true);
      expect(existsSync(join(dir, "node_modules/vitest")), `${service}: no dev dependencies`).toBe(false);
    }
  });

  it("migrate with MIGRATE_ONLY, then serve; the gateway reaches identity and serves its JWKS", async () => {
    const identityDir = folders.get("identity")!;
    const gatewayDir = folders.get("gateway")!;
    const databaseUrl = await testDatabaseUrl("image");
    const natsUrl = testNatsUrl();

    const migrate = start(identityDir, {
      DATABASE_URL: databaseUrl,
      NATS_URL: natsUrl,
      MIGRATE_ONLY: "true",
    });
    const code = await migrate.exited;
    expect(code, migrate.output().slice(-3000)).toBe(0);

    const identityPorts = { grpc: await freePort(), admin: await freePort() };
    const identity = start(identityDir, {
      DATABASE_URL: databaseUrl,
      NATS_URL: natsUrl,
      // The KEK its signing keys are sealed with (a Secret in the chart); the migration above needs none.
      IDENTITY_KEK: `image-test:${randomBytes(32).toString("base64")}`,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(identityPorts.grpc),
      ADMIN_PORT: String(identityPorts.admin),
    });
    await ready(identity, identityPorts.admin);

    const gatewayPorts = { http: await freePort(), admin: await freePort() };
    const gateway = start(gatewayDir, {
      PORT: String(gatewayPorts.http),
      ADMIN_PORT: String(gatewayPorts.admin),
      IDENTITY_ADDRESS: `127.0.0.1:${identityPorts.grpc}`,
    });
    await ready(gateway, gatewayPorts.admin);
    const jwks = await fetch(`http://127.0.0.1:${gatewayPorts.http}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);

    // Graceful stop on SIGTERM, as the kubelet does.
    expect(await gateway.stop(15_000)).toBe(0);
    expect(await identity.stop(15_000)).toBe(0);
  }, 180_000);
});
