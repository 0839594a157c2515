/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per area
 * (gateway code, grpc-js, protobuf-es, Node's HTTP stack, GC …), as shares of the busy (non-idle) time.
 */
import { readFile } from "node:fs/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  startTime: number;
  endTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One row of a summary: a function or an area, with its self time. */
export interface ProfileRow {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time, 0–1. */
  readonly share: number;
}

/** What {@link summariseProfile} returns. */
export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  /** True when only the samples inside the load window were counted (start-up left out). */
  readonly windowed: boolean;
  readonly functions: readonly ProfileRow[];
  readonly areas: readonly ProfileRow[];
}

function shortUrl(url: string, root: string): string {
  let u = url.replace(/^file:\/\//, "");
  const nm = u.lastIndexOf("/node_modules/");
  if (nm >= 0) u = u.slice(nm + "/node_modules/".length).replace(/^\.pnpm\/[^/]+\/node_modules\//, "");
  else if (u.startsWith(`${root}/`)) u = u.slice(root.length + 1);
  return u;
}

/** The area a frame belongs to. */
function areaOf(url: string, functionName: string): string {
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(program)") return "V8/native (program)";
  if (functionName === "(idle)") return "idle";
  if (url === "") return "native (no script)";
  if (url.includes("@grpc/grpc-js")) return "grpc-js";
  if (url.includes("@bufbuild/protobuf")) return "protobuf-es";
  if (url.includes("@connectrpc")) return "connect-node";
  if (url.includes("prom-client")) return "prom-client";
  if (url.includes("@opentelemetry")) return "opentelemetry";
  if (url.includes("/gateway/src/")) return "gateway code";
  if (url.includes("/packages/platform/")) return "platform kit";
  if (url.includes("node_modules")) return "other npm";
  if (/^node:internal\/(http|_http)|^node:_http|^node:http/.test(url)) return "node http";
  if (/^node:internal\/http2|^node:http2/.test(url)) return "node http2";
  if (/^node:(internal\/)?(net|stream|streams)|^node:internal\/stream_base|^node:internal\/streams/.test(url))
    return "node net/streams";
  if (url.startsWith("node:")) return "node other";
  return "other";
}

/**
 * Reads a `.cpuprofile` and sums self time per function and per area. With `window` (CLOCK_MONOTONIC
 * microseconds, e.g. `process.hrtime.bigint() / 1000n` taken around the load: V8 stamps samples with
 * the same clock on Linux), only the samples inside it count, so start-up and shutdown are left out;
 * when no sample falls inside (another clock), every sample counts and `windowed` is false.
 */
export async function summariseProfile(
  path: string,
  root: string,
  window?: { readonly fromUs: number; readonly toUs: number },
  top = 25,
): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const collect = (inside: (t: number) => boolean) => {
    const self = new Map<number, number>();
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      if (!inside(t)) continue;
      const id = profile.samples[i] as number;
      self.set(id, (self.get(id) ?? 0) + delta);
    }
    return self;
  };
  let selfUs = window ? collect((t) => t >= window.fromUs && t <= window.toUs) : new Map<number, number>();
  const windowed = selfUs.size > 0;
  if (!windowed) selfUs = collect(() => true);
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idle += us;
      continue;
    }
    const name =
      url === ""
        ? functionName || "(anonymous)"
        : `${functionName || "(anonymous)"} ${shortUrl(url, root)}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>, n: number): ProfileRow[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: busy > 0 ? us / busy : 0 }));
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    windowed,
    functions: rows(functions, top),
    areas: rows(areas, 20),
  };
}
