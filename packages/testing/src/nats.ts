import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackDir, untrackDir } from "./cleanup.js";
import { freePort } from "./names.js";
import { type SpawnedProcess, spawnProcess } from "./process.js";
import { BOOTSTRAP_HINT, requireTool } from "./tools.js";
import { waitFor } from "./wait.js";

/** Oldest nats-server accepted: earlier releases lose acknowledged JetStream messages on a crash. */
export const MIN_NATS_SERVER_VERSION = "2.10.23";

/** A nats-server with JetStream started by {@link startNats}. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory (kept across {@link NatsServer.restart}). */
  readonly storeDir: string;
  /** Process id of the current server process (changes on restart). */
  readonly pid: number;
  /** Graceful stop (SIGTERM, then SIGKILL); removes the store directory unless the caller supplied it. */
  stop(): Promise<void>;
  /** Crashes the server (SIGKILL) and waits for it to be gone; files are kept for {@link NatsServer.restart}. */
  kill(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered. */
  pause(): void;
  /** Continues a paused server (SIGCONT). */
  resume(): void;
  /** Starts the server again on the same port and store directory (stopping it first if it runs). */
  restart(): Promise<void>;
}

/** Options for {@link startNats}. */
export interface StartNatsOptions {
  /** TCP port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** JetStream store directory (default: a new temporary one, removed by `stop`). */
  storeDir?: string;
}

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split(".").map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

let checkedBinary: string | undefined;

/** Locates nats-server and checks its version, once per process. */
function natsServerBinary(): string {
  if (checkedBinary !== undefined) return checkedBinary;
  const bin = requireTool("nats-server");
  const out = execFileSync(bin, ["--version"], { encoding: "utf8" });
  const version = /v?(\d+\.\d+\.\d+)/.exec(out)?.[1];
  if (version === undefined || !versionAtLeast(version, MIN_NATS_SERVER_VERSION)) {
    throw new Error(
      `@mercato/testing: ${bin} is version ${version ?? out.trim()}, need >= ${MIN_NATS_SERVER_VERSION}; ${BOOTSTRAP_HINT}`,
    );
  }
  checkedBinary = bin;
  return bin;
}

/** Resolves true once the server greets with an INFO line announcing JetStream. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl >= 0) done(buf.startsWith("INFO") && buf.slice(0, nl).includes('"jetstream":true'));
    });
  });
}

/**
 * Starts nats-server with JetStream (file storage, `sync_interval: always` so an acknowledged message
 * survives a SIGKILL) on 127.0.0.1, and waits until it accepts connections. The server is killed when
 * the test process exits.
 *
 * @throws with a hint to run `scripts/bootstrap.sh` when nats-server is missing or too old
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const base = await mkdtemp(join(tmpdir(), "mercato-nats-"));
  trackDir(base);
  const storeDir = opts.storeDir ?? join(base, "jetstream");
  await mkdir(storeDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const config = join(base, "nats.conf");
  await writeFile(
    config,
    [
      `listen: "127.0.0.1:${port}"`,
      `server_name: "mercato-test-${port}"`,
      "jetstream {",
      `  store_dir: ${JSON.stringify(storeDir)}`,
      "  sync_interval: always",
      "  max_memory_store: 256MB",
      "  max_file_store: 4GB",
      "}",
      "",
    ].join("\n"),
  );

  let proc: SpawnedProcess;
  const launch = async (): Promise<void> => {
    proc = spawnProcess(bin, ["-c", config], { cwd: base });
    const p = proc;
    try {
      await waitFor(
        async () => {
          if (!p.running) throw new Error("nats-server exited");
          return probe(port);
        },
        { timeoutMs: 30_000, intervalMs: 50, failFast: true, message: `nats-server on port ${port}` },
      );
    } catch (err) {
      await p.kill("SIGKILL");
      const detail = err instanceof Error ? err.message : String(err);
      throw new Error(`startNats: server did not become ready: ${detail}\n${p.output().slice(-4000)}`, {
        cause: err,
      });
    }
  };

  try {
    await launch();
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    untrackDir(base);
    throw err;
  }

  let stopped = false;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc.stop(5000);
      // A caller-supplied store directory lives outside `base` and is left alone.
      await rm(base, { recursive: true, force: true });
      untrackDir(base);
    },
    async kill() {
      await proc.kill("SIGKILL");
    },
    pause() {
      proc.pause();
    },
    resume() {
      proc.resume();
    },
    async restart() {
      if (stopped) throw new Error("startNats: restart() after stop()");
      if (proc.running) await proc.stop(5000);
      await launch();
    },
  };
}
