/**
 * Resident memory of a set of processes over time: one sample reads every process's RSS from /proc.
 * Used by the memory, soak and start-up benchmarks.
 */
import { rssBytes } from "./proc.js";

/** A process to watch, named for the report and marked as app (services, gateway) or infrastructure. */
export interface WatchedProcess {
  readonly name: string;
  readonly pid: number;
  readonly kind: "app" | "infra";
}

/** One sample: when (s since the watch started) and RSS by process name (processes of one name summed). */
export interface MemorySample {
  readonly t: number;
  readonly byName: Record<string, number>;
  /** Sum over the app processes (services and gateway). */
  readonly apps: number;
  /** Sum over the infrastructure (PostgreSQL with its backends, nats-server). */
  readonly infra: number;
}

/** Reads every process's RSS once. */
export async function sampleMemory(processes: readonly WatchedProcess[], t: number): Promise<MemorySample> {
  const byName: Record<string, number> = {};
  let apps = 0;
  let infra = 0;
  for (const p of processes) {
    const rss = await rssBytes(p.pid);
    byName[p.name] = (byName[p.name] ?? 0) + rss;
    if (p.kind === "app") apps += rss;
    else infra += rss;
  }
  return { t, byName, apps, infra };
}

/** Samples every `intervalMs` until stopped; `stop()` resolves with all samples. */
export function watchMemory(
  processes: () => Promise<readonly WatchedProcess[]>,
  intervalMs: number,
): { stop(): Promise<MemorySample[]> } {
  const started = performance.now();
  const samples: MemorySample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await sampleMemory(await processes(), (performance.now() - started) / 1000));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}
