/**
 * What the benchmarks read from /proc: CPU time of processes and of the machine, resident memory,
 * process trees. Linux only, like the benchmarks.
 */
import { readdir, readFile } from "node:fs/promises";

/** CPU time (user + system, in seconds) used so far by the given processes, from /proc. */
export async function cpuSeconds(pids: readonly number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process is gone
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/**
 * CPU time (seconds) of this process and of its children that have exited and been reaped (the load
 * generators), from /proc/self/stat: utime + stime + cutime + cstime.
 */
export async function selfAndReapedChildrenCpuSeconds(): Promise<number> {
  const stat = await readFile("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
}

/** Busy and total CPU time of the whole machine so far (all cores, in seconds), from /proc/stat. */
export async function machineCpuSeconds(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  const total = values.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** The share (0–1) of the machine's CPU time that was busy over the next `ms` milliseconds. */
export async function machineBusyOver(ms: number): Promise<number> {
  const before = await machineCpuSeconds();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = await machineCpuSeconds();
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}

/** Resident set size of one process in bytes (0 when it is gone), from /proc/<pid>/status. */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kib ? Number(kib) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `pid` and all its descendants (children of children too), each once. */
export async function descendants(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    for (const child of children.get(p) ?? []) visit(child);
  };
  visit(pid);
  return out;
}

/** The command line of a process, arguments joined by spaces ("" when it is gone). */
export async function commandLine(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ").trim();
  } catch {
    return "";
  }
}
