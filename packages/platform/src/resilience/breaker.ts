import CircuitBreaker from "opossum";
import { circuitBreakerState } from "../metrics/index.js";

/** Circuit state. */
export type BreakerState = "closed" | "open" | "halfOpen";

/** Options for {@link Breaker}. */
export interface BreakerOptions {
  /** The upstream's name: labels the metric and the open error. */
  readonly name: string;
  /** Which errors count against the upstream's health; others pass through uncounted. */
  readonly isFailure: (error: unknown) => boolean;
  /** Failure percentage over the rolling window that opens the circuit (default 50). */
  readonly errorThresholdPercentage?: number;
  /** Calls needed in the window before the circuit may open (default 10). */
  readonly volumeThreshold?: number;
  /** How long the circuit stays open before letting one probe call through (default 5 s). */
  readonly resetTimeoutMs?: number;
  /** Rolling statistics window (default 10 s). */
  readonly rollingCountTimeoutMs?: number;
  /** Called on every state change. */
  readonly onStateChange?: (state: BreakerState) => void;
}

/** Thrown instead of calling the upstream while the circuit is open (or half-open with its probe in flight). */
export class BreakerOpenError extends Error {
  constructor(readonly upstream: string) {
    super(`circuit open for ${upstream}`);
    this.name = "BreakerOpenError";
  }
}

const stateValue: Record<BreakerState, number> = { closed: 0, halfOpen: 1, open: 2 };

/**
 * A circuit breaker around calls to one upstream (opossum underneath, with its timeout disabled:
 * deadlines bound calls). It opens when the failure rate over the window passes the threshold,
 * fails fast while open, lets a single probe through after `resetTimeoutMs` (half-open), and
 * closes when the probe succeeds. State is exported as `mercato_circuit_breaker_state`.
 */
export class Breaker {
  readonly name: string;
  private readonly circuit: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(options: BreakerOptions) {
    this.name = options.name;
    this.circuit = new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
      name: options.name,
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 10,
      resetTimeout: options.resetTimeoutMs ?? 5_000,
      rollingCountTimeout: options.rollingCountTimeoutMs ?? 10_000,
      rollingCountBuckets: 10,
      // opossum calls errors for which this returns true "successes": they don't trip the circuit.
      errorFilter: (error: unknown) => !options.isFailure(error),
    });
    const report = (state: BreakerState) => () => {
      circuitBreakerState.set({ upstream: options.name }, stateValue[state]);
      options.onStateChange?.(state);
    };
    this.circuit.on("open", report("open"));
    this.circuit.on("halfOpen", report("halfOpen"));
    this.circuit.on("close", report("closed"));
    circuitBreakerState.set({ upstream: options.name }, 0);
  }

  /** The current state. */
  get state(): BreakerState {
    if (this.circuit.opened) return "open";
    if (this.circuit.halfOpen) return "halfOpen";
    return "closed";
  }

  /** Runs `fn` through the circuit; rejects with {@link BreakerOpenError} without calling it when open. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return (await this.circuit.fire(fn)) as T;
    } catch (error) {
      if ((error as { code?: unknown }).code === "EOPENBREAKER") throw new BreakerOpenError(this.name);
      throw error;
    }
  }

  /**
   * Closes an open (or half-open) circuit at once: for when the upstream is known to be back (its
   * connection was re-established), rather than waiting out the rest of `resetTimeoutMs`. The rolling
   * statistics stay, so renewed failures open it again straight away.
   */
  reset(): void {
    if (this.state !== "closed") this.circuit.close();
  }

  /** Stops the breaker's timers. */
  shutdown(): void {
    this.circuit.shutdown();
  }
}
