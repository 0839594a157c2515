import { existsSync } from "node:fs";
import { chown, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import postgres from "postgres";
import { trackDir, untrackDir } from "./cleanup.js";
import { freePort } from "./names.js";
import { spawnProcess } from "./process.js";
import { postgresBinDir } from "./tools.js";
import { waitFor } from "./wait.js";

/** A PostgreSQL cluster started by {@link startPostgres}. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, superuser). */
  readonly url: string;
  readonly port: number;
  /**
   * The cluster's data directory: inside a temporary directory that {@link PostgresServer.stop} removes,
   * or the persistent `dataDir` that was asked for, which is kept.
   */
  readonly dataDir: string;
  /**
   * Shuts the server down (fast shutdown, then SIGKILL) and deletes a throwaway cluster's files.
   * Safe to call twice.
   */
  stop(): Promise<void>;
}

/** Options for {@link startPostgres}. */
export interface StartPostgresOptions {
  /** TCP port on 127.0.0.1 (default: a free one). */
  port?: number;
  /**
   * Keep the cluster in this directory instead of a throwaway one (local runs): initialised on first
   * use, reused afterwards, never deleted, and run with durable settings (fsync on) and small memory.
   */
  dataDir?: string;
}

/**
 * Server settings. Tests trade durability for speed. A persistent local cluster stays crash-safe
 * (only `synchronous_commit` is relaxed, which can lose the last moments but never corrupts) and small:
 * a developer's machine runs it beside every service.
 */
const throwawaySettings = [
  "fsync=off",
  "synchronous_commit=off",
  "full_page_writes=off",
  "max_connections=400",
];
const persistentSettings = [
  "synchronous_commit=off",
  "shared_buffers=32MB",
  "max_connections=150",
  "unix_socket_directories=",
];

/** uid/gid to run PostgreSQL as: it refuses to run as root, so root uses the `postgres` account. */
async function serverAccount(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile("/etc/passwd", "utf8");
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === "postgres" && uid !== undefined && gid !== undefined)
      return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(
    "@mercato/testing: running as root but there is no `postgres` user to run PostgreSQL as; " +
      "run `bash scripts/bootstrap.sh` (it installs the postgresql package, which creates the user)",
  );
}

/** Runs initdb into `dataDir` (as `account` when running as root). */
async function initCluster(dataDir: string, cwd: string, account: { uid: number; gid: number } | undefined) {
  const initdb = spawnProcess(
    join(postgresBinDir(), "initdb"),
    ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
    { ...(account ?? {}), cwd, env: { LC_ALL: "C" } },
  );
  const code = await initdb.exited;
  if (code !== 0) throw new Error(`exit code ${code}\n${initdb.output().slice(-4000)}`);
}

/** Creates (or, persistent, finds) the cluster's folders; returns the working folder and the data folder. */
async function prepareCluster(
  persistentDir: string | undefined,
  account: { uid: number; gid: number } | undefined,
): Promise<{ base: string; dataDir: string }> {
  if (persistentDir !== undefined) {
    if (!existsSync(join(persistentDir, "PG_VERSION"))) {
      // Parents keep the default mode: the `postgres` account (when running as root) must pass through.
      await mkdir(dirname(persistentDir), { recursive: true });
      await mkdir(persistentDir, { recursive: true, mode: 0o700 });
      if (account !== undefined) await chown(persistentDir, account.uid, account.gid);
      try {
        await initCluster(persistentDir, persistentDir, account);
      } catch (err) {
        throw new Error(`startPostgres: initdb into ${persistentDir} failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return { base: persistentDir, dataDir: persistentDir };
  }
  const base = await mkdtemp(join(tmpdir(), "mercato-pg-"));
  trackDir(base);
  const dataDir = join(base, "data");
  try {
    await mkdir(dataDir, { mode: 0o700 });
    if (account !== undefined) {
      await chown(base, account.uid, account.gid);
      await chown(dataDir, account.uid, account.gid);
    }
    await initCluster(dataDir, base, account);
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    untrackDir(base);
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`startPostgres: initdb failed: ${detail}`, { cause: err });
  }
  return { base, dataDir };
}

/**
 * Starts a PostgreSQL cluster listening on 127.0.0.1 only. By default it is a throwaway cluster in a new
 * temporary directory, tuned for tests (fsync off) and destroyed when the test process exits, even if
 * `stop` is never called. With `dataDir` it is a persistent local cluster (see {@link StartPostgresOptions}).
 *
 * @throws with a hint to run `scripts/bootstrap.sh` when PostgreSQL is not installed
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const account = await serverAccount();
  const persistent = opts.dataDir !== undefined;
  const { base, dataDir } = await prepareCluster(opts.dataDir, account);

  const port = opts.port ?? (await freePort());
  const settings = persistent
    ? persistentSettings
    : [...throwawaySettings, `unix_socket_directories=${base}`];
  const proc = spawnProcess(
    join(bin, "postgres"),
    [
      "-D",
      dataDir,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      ...settings.flatMap((s) => ["-c", s]),
    ],
    // A persistent cluster left behind by a crashed runner gets a fast (clean) shutdown, not SIGQUIT's crash.
    { ...(account ?? {}), cwd: base, exitSignal: persistent ? "SIGINT" : "SIGQUIT" },
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
      const timer = setTimeout(() => void proc.kill("SIGKILL"), 10_000);
      await proc.kill("SIGINT");
      clearTimeout(timer);
      if (persistent) return;
      await rm(base, { recursive: true, force: true });
      untrackDir(base);
    })();
    return stopped;
  };

  try {
    await waitFor(
      async () => {
        if (!proc.running) throw new Error("postgres exited");
        const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
        try {
          await sql`select 1`;
          return true;
        } catch (err) {
          if (!proc.running) throw new Error("postgres exited");
          throw err;
        } finally {
          await sql.end({ timeout: 1 });
        }
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `PostgreSQL on port ${port}` },
    );
  } catch (err) {
    await stop();
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`startPostgres: server did not become ready: ${detail}\n${proc.output().slice(-4000)}`, {
      cause: err,
    });
  }
  return { url, port, dataDir, stop };
}
