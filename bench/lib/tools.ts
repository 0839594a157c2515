/**
 * Commands and load tools: running a command with a time limit, finding Go, and making sure ghz,
 * vegeta, wrk and the grpc-gateway plugins are installed (bench/tools/edge-tools.sh on first use).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { findTool, repoRoot } from "@mercato/testing/servers";

const root = repoRoot();

/** Runs a command (default cwd: the repository) and resolves with its stdout; rejects with its stderr tail. */
export function exec(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: options.cwd ?? root,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 10 * 60_000,
        killSignal: "SIGKILL",
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stderr.slice(-3000)}`));
        else resolve(stdout);
      },
    );
  });
}

/** Runs a command and returns the first line of its output, or "unknown (…)" (for version strings). */
export async function commandOutput(cmd: string, args: readonly string[]): Promise<string> {
  try {
    return (await exec(cmd, args, { timeoutMs: 30_000 })).trim().split("\n")[0] ?? "";
  } catch (error) {
    return `unknown (${(error as Error).message.split("\n")[0]})`;
  }
}

/** The `go` binary (PATH, then /usr/local/go/bin). */
export function goBinary(): string {
  const onPath = findTool("go");
  if (onPath) return onPath;
  if (existsSync("/usr/local/go/bin/go")) return "/usr/local/go/bin/go";
  throw new Error("Go is needed for the benchmark tools (ghz, vegeta, grpc-gateway): https://go.dev/dl");
}

/** The load tools and code generators the benchmarks use, by name → absolute path. */
export type LoadTools = Readonly<Record<(typeof loadTools)[number], string>>;

const loadTools = [
  "ghz",
  "vegeta",
  "wrk",
  "protoc-gen-go",
  "protoc-gen-go-grpc",
  "protoc-gen-grpc-gateway",
] as const;

/** Finds the load tools, running bench/tools/edge-tools.sh first when one is missing. */
export async function ensureLoadTools(log: (message: string) => void): Promise<LoadTools> {
  const missing = loadTools.filter((tool) => findTool(tool) === undefined);
  if (missing.length > 0) {
    log(`installing ${missing.join(", ")} (bench/tools/edge-tools.sh) ...`);
    await exec("bash", [join(root, "bench/tools/edge-tools.sh")], { timeoutMs: 20 * 60_000 });
  }
  const found: Record<string, string> = {};
  for (const tool of loadTools) {
    const path = findTool(tool);
    if (!path) throw new Error(`${tool} not found after bench/tools/edge-tools.sh`);
    found[tool] = path;
  }
  return found as LoadTools;
}
