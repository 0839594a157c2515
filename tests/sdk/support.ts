import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BOOTSTRAP_HINT, findTool, repoRoot, requireTool } from "@mercato/testing";

/** What a finished command printed. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to completion and resolves with its output; rejects with the command, its exit code
 * and both outputs when it fails or runs longer than `timeoutMs` (default 5 minutes).
 */
export function run(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${cmd} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** The Go toolchain: on the tool path, or where the official tarball installs it. */
export function goTool(): string {
  return findTool("go") ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : requireTool("go"));
}

/** The last line of a program's output parsed as JSON (the SDK examples print their result there). */
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes
export function lastJsonLine(output: string): any {
  const lines = output.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "");
}

/** The Python of `.tools/python`, the virtualenv with the Python SDK's runtime (scripts/tools/python-sdk.sh). */
export function sdkPython(): string {
  const python = join(repoRoot(), ".tools/python/bin/python");
  if (!existsSync(python)) throw new Error(`no Python SDK virtualenv at ${python}; ${BOOTSTRAP_HINT}`);
  return python;
}
