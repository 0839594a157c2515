import { chown, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { trackDir, untrackDir } from "./cleanup.js";
import { freePort } from "./names.js";
import { spawnProcess } from "./process.js";
import { postgresBinDir } from "./tools.js";
import { waitFor } from "./wait.js";

/** A throwaway PostgreSQL cluster started by {@link startPostgres}. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, superuser). */
  readonly url: string;
  readonly port: number;
  /** The cluster's data directory (inside a temporary directory that {@link PostgresServer.stop} removes). */
  readonly dataDir: string;
  /** Shuts the server down (fast shutdown, then SIGKILL) and deletes its files. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options for {@link startPostgres}. */
export interface StartPostgresOptions {
  /** TCP port on 127.0.0.1 (default: a free one). */
  port?: number;
}

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

/**
 * Starts a throwaway PostgreSQL cluster in a new temporary directory, listening on 127.0.0.1 only, tuned
 * for tests (fsync off). It is destroyed when the test process exits, even if `stop` is never called.
 *
 * @throws with a hint to run `scripts/bootstrap.sh` when PostgreSQL is not installed
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const account = await serverAccount();
  const base = await mkdtemp(join(tmpdir(), "mercato-pg-"));
  trackDir(base);
  const dataDir = join(base, "data");
  try {
    await mkdir(dataDir, { mode: 0o700 });
    if (account !== undefined) {
      await chown(base, account.uid, account.gid);
      await chown(dataDir, account.uid, account.gid);
    }
    const initdb = spawnProcess(
      join(bin, "initdb"),
      ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
      { ...(account ?? {}), cwd: base, env: { LC_ALL: "C" } },
    );
    const code = await initdb.exited;
    if (code !== 0) throw new Error(`exit code ${code}\n${initdb.output().slice(-4000)}`);
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    untrackDir(base);
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`startPostgres: initdb failed: ${detail}`, { cause: err });
  }

  const port = opts.port ?? (await freePort());
  const proc = spawnProcess(
    join(bin, "postgres"),
    [
      ["-D", dataDir],
      ["-p", String(port)],
      ["-k", base],
      ["-c", "listen_addresses=127.0.0.1"],
      ["-c", "fsync=off"],
      ["-c", "synchronous_commit=off"],
      ["-c", "full_page_writes=off"],
      ["-c", "max_connections=400"],
    ].flat(),
    { ...(account ?? {}), cwd: base, exitSignal: "SIGQUIT" },
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
      const timer = setTimeout(() => void proc.kill("SIGKILL"), 10_000);
      await proc.kill("SIGINT");
      clearTimeout(timer);
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
