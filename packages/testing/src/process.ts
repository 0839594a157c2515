import { type ChildProcess, spawn } from "node:child_process";
import { signalQuietly, track, untrack } from "./cleanup.js";
import { waitFor } from "./wait.js";

/** Options for {@link spawnProcess}. */
export interface SpawnProcessOptions {
  /** Working directory (default: the current one). */
  cwd?: string;
  /** Variables added over `process.env` (a value of `undefined` removes the variable). */
  env?: Record<string, string | undefined>;
  /** Copy the child's output to this process's stderr as it arrives (handy when debugging). */
  echo?: boolean;
  /** Run the child as this user id (only possible when running as root). */
  uid?: number;
  /** Run the child with this group id (only possible when running as root). */
  gid?: number;
  /** Signal used to end the child when the test process exits (default SIGKILL). */
  exitSignal?: NodeJS.Signals;
  /** A directory deleted together with the child when the test process exits. */
  cleanupDir?: string;
}

/** A child process started by {@link spawnProcess}. */
export interface SpawnedProcess {
  /** Process id of the child (also its process-group id: signals reach its descendants too). */
  readonly pid: number;
  /**
   * Sends `signal` (default SIGTERM) to the child's process group; a paused child is continued so the
   * signal takes effect.
   *
   * @returns the same promise as {@link SpawnedProcess.exited}
   */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Freezes the child and its descendants (SIGSTOP), e.g. to simulate a hung server. */
  pause(): void;
  /** Continues a paused child (SIGCONT). */
  resume(): void;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5000) if it is still running; resolves at exit. */
  stop(graceMs?: number): Promise<number | null>;
  /** Resolves when the child exits: its exit code, or `null` when a signal ended it. */
  readonly exited: Promise<number | null>;
  /** True until the child has exited. */
  readonly running: boolean;
  /** Everything the child wrote to stdout and stderr so far, interleaved (the last 4 MiB). */
  output(): string;
  /**
   * Waits until the output matches `pattern`.
   *
   * @throws when the child exits first or `timeoutMs` (default 60 000: a process started from source
   *   took over 30 s to print its first line on a busy machine) passes; the error carries the output
   */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

/**
 * Starts a command as a real child process for tests (services, servers). The child gets its own process
 * group, its output is captured, and it is always killed when the test process exits.
 *
 * Run TypeScript entry points as `process.execPath` with `["--import", "tsx", "src/main.ts"]`: one
 * process, so pause/kill act on the server itself.
 *
 * @param cmd - executable (absolute path or a name on PATH)
 * @param args - its arguments
 * @param opts - see {@link SpawnProcessOptions}
 * @throws when the executable cannot be started
 */
export function spawnProcess(
  cmd: string,
  args: readonly string[],
  opts: SpawnProcessOptions = {},
): SpawnedProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child: ChildProcess = spawn(cmd, args, {
    cwd: opts.cwd ?? process.cwd(),
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  let spawnError: Error | undefined;
  child.on("error", (err) => {
    spawnError = err;
  });
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error(`spawnProcess: cannot start ${cmd}: ${spawnError?.message ?? "unknown error"}`);
  }
  track(pid, {
    group: true,
    signal: opts.exitSignal ?? "SIGKILL",
    ...(opts.cleanupDir !== undefined ? { dir: opts.cleanupDir } : {}),
  });

  let out = "";
  const onData = (chunk: Buffer): void => {
    out += chunk.toString("utf8");
    if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
    if (opts.echo) process.stderr.write(chunk);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);

  let running = true;
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      running = false;
      untrack(pid);
      // The child may leave descendants in its group (e.g. a wrapper's worker): end them too.
      signalQuietly(-pid, "SIGKILL");
      resolve(code);
    });
  });

  const signal = (sig: NodeJS.Signals): void => {
    if (!running) return;
    if (!signalQuietly(-pid, sig)) signalQuietly(pid, sig);
  };

  return {
    pid,
    get running() {
      return running;
    },
    exited,
    kill(sig: NodeJS.Signals = "SIGTERM") {
      signal(sig);
      if (sig !== "SIGSTOP" && sig !== "SIGCONT" && sig !== "SIGKILL") signal("SIGCONT");
      return exited;
    },
    pause() {
      signal("SIGSTOP");
    },
    resume() {
      signal("SIGCONT");
    },
    async stop(graceMs = 5000) {
      if (!running) return exited;
      signal("SIGTERM");
      signal("SIGCONT");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    output: () => out,
    async waitForOutput(pattern: RegExp | string, timeoutMs = 60_000) {
      const matches = (): boolean =>
        typeof pattern === "string" ? out.includes(pattern) : pattern.test(out);
      try {
        await waitFor(
          () => {
            if (matches()) return true;
            if (!running) throw new Error("process exited");
            return false;
          },
          { timeoutMs, intervalMs: 20, failFast: true },
        );
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(
          `${cmd}: output never matched ${String(pattern)} (${why}); output:\n${out.slice(-4000)}`,
        );
      }
    },
  };
}
