/**
 * What a report records about where it ran: the machine (CPU model and count, memory, kernel), the
 * versions of everything measured and measuring, and the git commit.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { availableParallelism, cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { findTool, postgresBinDir, repoRoot } from "@mercato/testing/servers";
import { commandOutput, exec, goBinary } from "./tools.js";

const root = repoRoot();

/** Machine, versions and commit of a run. */
export interface Environment {
  /** YYYY-MM-DD (local time), used in file names. */
  readonly date: string;
  readonly commit: string;
  /** True when the work tree had uncommitted changes. */
  readonly dirty: boolean;
  readonly machine: Record<string, string>;
  /** Mutable: benchmarks add the versions of what they bring (grpc-gateway, pgbench …). */
  readonly versions: Record<string, string>;
}

/** The version of an npm package as installed for the workspace package at `from`. */
export async function packageVersion(from: string, name: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(root, from, "node_modules", name, "package.json"), "utf8"));
    return String(pkg.version);
  } catch {
    return "unknown";
  }
}

/** The version a `.tools/versions/<tool>` stamp records (bench/tools/edge-tools.sh writes them). */
export async function stampedVersion(tool: string): Promise<string> {
  const stamp = (await readFile(join(root, ".tools/versions", tool), "utf8").catch(() => "")).trim();
  return stamp.split("@")[1] ?? "unknown";
}

/** `wrk -v` prints its version and exits 1. */
export function wrkVersion(bin: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(bin, ["-v"], { timeout: 10_000 }, (_error, stdout, stderr) => {
      resolve(
        `${stdout}${stderr}`
          .split("\n")[0]
          ?.replace(/ Copyright.*$/, "")
          .trim() || "unknown",
      );
    });
  });
}

/** Reads the machine, the common versions and the commit. */
export async function environment(): Promise<Environment> {
  const commit = (await exec("git", ["rev-parse", "HEAD"]).catch(() => "unknown")).trim();
  const dirty = (await exec("git", ["status", "--porcelain"]).catch(() => "")).trim() !== "";
  const cpuModel =
    (await readFile("/proc/cpuinfo", "utf8").catch(() => ""))
      .split("\n")
      .find((l) => l.startsWith("model name"))
      ?.split(":")[1]
      ?.trim() ??
    cpus()[0]?.model ??
    "unknown";
  const now = new Date();
  const date = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
  let go = "not installed";
  try {
    go = (await commandOutput(goBinary(), ["version"])).replace(/^go version /, "");
  } catch {
    // reported as not installed
  }
  return {
    date,
    commit,
    dirty,
    machine: {
      "CPUs (nproc)": String(availableParallelism()),
      "CPU model": cpuModel,
      memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      kernel: `Linux ${release()}`,
    },
    versions: {
      node: process.version,
      PostgreSQL: await commandOutput(join(postgresBinDir(), "postgres"), ["--version"]),
      pgbench: await commandOutput(join(postgresBinDir(), "pgbench"), ["--version"]),
      "nats-server": await commandOutput(findTool("nats-server") ?? "nats-server", ["--version"]),
      go,
      "@grpc/grpc-js": await packageVersion("packages/platform", "@grpc/grpc-js"),
      "@bufbuild/protobuf": await packageVersion("packages/platform", "@bufbuild/protobuf"),
      "@connectrpc/connect-node": await packageVersion("gateway", "@connectrpc/connect-node"),
      nats: await packageVersion("packages/platform", "nats"),
      ghz: await stampedVersion("ghz"),
      vegeta: await stampedVersion("vegeta"),
      wrk: await wrkVersion(findTool("wrk") ?? "wrk"),
    },
  };
}
