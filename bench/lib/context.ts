/**
 * What the harness (bench/run.ts) hands every benchmark: the mode, logging, the load tools, the
 * shared running system, a place for plots, and figures one benchmark passes to the next.
 */
import type { Environment } from "./environment.js";
import type { Section } from "./report.js";
import type { BenchSystem } from "./system.js";
import type { LoadTools } from "./tools.js";

/** `full`: `pnpm bench`; `quick`: `pnpm bench --quick` (smoke); `soak`: `pnpm bench --soak`. */
export type Mode = "full" | "quick" | "soak";

/** The harness's services to a benchmark. */
export interface BenchContext {
  readonly mode: Mode;
  readonly quick: boolean;
  readonly env: Environment;
  /** Progress on stderr, prefixed with the elapsed time and the benchmark's id. */
  log(message: string): void;
  /** The load tools, installed on first use. */
  tools(): Promise<LoadTools>;
  /** The whole system on a throwaway PostgreSQL and nats-server, started once and shared. */
  system(): Promise<BenchSystem>;
  /** Stops the shared system (before a benchmark that needs the machine to itself). */
  stopSystem(): Promise<void>;
  /** Writes an SVG next to the report; returns its file name for a Markdown link. */
  plot(name: string, svg: string): Promise<string>;
  /** Writes any other file next to the report; returns its file name. */
  attach(name: string, content: string | Uint8Array): Promise<string>;
  /** Figures later benchmarks reuse, e.g. the maximum order rate the saga benchmark found. */
  readonly shared: { maxOrderRate?: number };
}

/** A benchmark: an id for `--only`, and a run that measures and returns its report section. */
export interface Benchmark {
  readonly id: string;
  /** Needs the shared system (benchmarks that do not run first, with the machine to themselves). */
  readonly usesSystem: boolean;
  run(ctx: BenchContext): Promise<Section>;
}
