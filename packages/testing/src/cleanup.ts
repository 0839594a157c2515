import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A process (group) to end, and optionally a directory to delete, when the test process goes away. */
interface Tracked {
  /** Process id; when `group` is set the whole process group `-pid` is signalled. */
  pid: number;
  group: boolean;
  /** Signal that ends it quickly (SIGKILL, or SIGQUIT for PostgreSQL's immediate shutdown). */
  signal: NodeJS.Signals;
  dir: string | undefined;
}

const tracked = new Map<number, Tracked>();
const dirs = new Set<string>();
const pidFile = join(tmpdir(), `mercato-testing-${process.pid}.pids`);
let installed = false;

/*
 * A detached shell watchdog cleans up when this process dies without running its "exit" handlers
 * (SIGKILL, or SIGTERM from the test runner tearing down a worker): nothing outlives the test run.
 * Zombies count as dead: this machine's PID 1 reaps orphans only every few seconds.
 */
const WATCHDOG = `
file=$1; shift
alive() {
  [ -d /proc/1 ] || { kill -0 "$1" 2>/dev/null; return; }
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}
while :; do for p in "$@"; do alive "$p" || break 2; done; sleep 1; done
[ -f "$file" ] || exit 0
while read -r kind a b; do [ "$kind" = P ] && kill -s CONT -- "$a" 2>/dev/null && kill -s "$b" -- "$a" 2>/dev/null; done < "$file"
sleep 1
while read -r kind a b; do
  if [ "$kind" = P ]; then kill -s KILL -- "$a" 2>/dev/null; elif [ "$kind" = D ]; then rm -rf "$a"; fi
done < "$file"
rm -f "$file"
`;

function target(t: Tracked): number {
  return t.group ? -t.pid : t.pid;
}

function persist(): void {
  const lines = [
    ...[...tracked.values()].map((t) => `P ${target(t)} ${t.signal.replace(/^SIG/, "")}\n`),
    ...[...tracked.values()].flatMap((t) => (t.dir === undefined ? [] : [`D ${t.dir}\n`])),
    ...[...dirs].map((d) => `D ${d}\n`),
  ];
  try {
    writeFileSync(pidFile, lines.join(""));
  } catch {
    // Best effort: the in-process exit handler still runs in the common case.
  }
}

function cleanupNow(): void {
  for (const t of tracked.values()) {
    signalQuietly(target(t), "SIGCONT");
    signalQuietly(target(t), t.signal);
    if (t.dir !== undefined) rmSync(t.dir, { recursive: true, force: true });
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  tracked.clear();
  dirs.clear();
  rmSync(pidFile, { force: true });
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once("exit", cleanupNow);
  // In a vitest worker also watch the runner: a worker orphaned by a killed runner can live on.
  const watched = [process.pid, ...(process.env.VITEST_POOL_ID !== undefined ? [process.ppid] : [])];
  const dog = spawn("sh", ["-c", WATCHDOG, "mercato-testing-watchdog", pidFile, ...watched.map(String)], {
    detached: true,
    stdio: "ignore",
  });
  dog.on("error", () => {});
  dog.unref();
}

/** Sends a signal, ignoring "no such process". */
export function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Registers a process (and a directory) to be destroyed when the test process exits, even abnormally.
 *
 * @internal
 */
export function track(pid: number, opts: { group: boolean; signal?: NodeJS.Signals; dir?: string }): void {
  install();
  tracked.set(pid, { pid, group: opts.group, signal: opts.signal ?? "SIGKILL", dir: opts.dir });
  persist();
}

/** Forgets a process registered with {@link track}, after it ended normally. @internal */
export function untrack(pid: number): void {
  if (tracked.delete(pid)) persist();
}

/**
 * Registers a temporary directory to be deleted when the test process exits, even abnormally.
 *
 * @internal
 */
export function trackDir(dir: string): void {
  install();
  dirs.add(dir);
  persist();
}

/** Forgets a directory registered with {@link trackDir} (after deleting it normally). @internal */
export function untrackDir(dir: string): void {
  if (dirs.delete(dir)) persist();
}
