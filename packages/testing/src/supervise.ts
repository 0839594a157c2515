/**
 * When a supervised process that crashed is started again: after a back-off that doubles with each
 * crash in a row (reset once a run lasts long enough), and not at all once it crashes too often within
 * a window — a crash loop is reported and left alone rather than restarted forever.
 */

/** The restart policy of a supervised system (see {@link defaultRestartPolicy}). */
export interface RestartPolicy {
  /** Wait before the first restart after a crash (ms). */
  readonly initialDelayMs: number;
  /** Longest wait between restarts (ms); the wait doubles per crash in a row up to this. */
  readonly maxDelayMs: number;
  /** A process that crashes this many times within {@link windowMs} is given up on. */
  readonly maxCrashes: number;
  /** The window crashes are counted in (ms). */
  readonly windowMs: number;
  /** A run at least this long counts as healthy: the next crash starts the back-off afresh (ms). */
  readonly healthyRunMs: number;
}

/** Restart after 0.5 s, 1 s, 2 s … up to 15 s; give up after 5 crashes within 2 minutes. */
export const defaultRestartPolicy: RestartPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  maxCrashes: 5,
  windowMs: 120_000,
  healthyRunMs: 30_000,
};

/** What to do after a crash. */
export type CrashVerdict =
  | { readonly action: "restart"; readonly delayMs: number; readonly attempt: number }
  | { readonly action: "give-up"; readonly crashes: number; readonly windowMs: number };

/** The crashes of one process and the verdict on each. */
export class CrashHistory {
  private readonly crashes: number[] = [];
  private streak = 0;

  constructor(private readonly policy: RestartPolicy = defaultRestartPolicy) {}

  /**
   * Records a crash at `now` of a run that started at `startedAt` and says what to do.
   *
   * @param now - when it exited (ms)
   * @param startedAt - when that run was started (ms)
   */
  crashed(now: number, startedAt: number): CrashVerdict {
    const { policy } = this;
    if (now - startedAt >= policy.healthyRunMs) this.streak = 0;
    this.streak++;
    this.crashes.push(now);
    while (this.crashes.length > 0 && this.crashes[0]! <= now - policy.windowMs) this.crashes.shift();
    if (this.crashes.length >= policy.maxCrashes) {
      return { action: "give-up", crashes: this.crashes.length, windowMs: policy.windowMs };
    }
    const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (this.streak - 1));
    return { action: "restart", delayMs, attempt: this.streak };
  }
}

/** What a {@link Supervisor} reports. */
export interface SupervisorHooks {
  /** A crashed process will be started again after `delayMs` (its `attempt`-th restart in a row). */
  readonly onRestarting?: (name: string, info: { attempt: number; delayMs: number }) => void;
  /** A restarted process is ready again. */
  readonly onRestarted?: (name: string, info: { attempt: number; elapsedMs: number }) => void;
  /** A process crashed too often: it is left stopped. */
  readonly onGiveUp?: (name: string, info: { crashes: number; windowMs: number }) => void;
}

/**
 * Restarts crashed processes by the policy: `crashed` decides and schedules the restart (`relaunch`,
 * which resolves once the process is ready and rejects when it is not; a failed start is just another
 * crash, reported through `crashed` again by whoever watches the process).
 */
export class Supervisor {
  private readonly histories = new Map<string, CrashHistory>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly policy: RestartPolicy,
    private readonly hooks: SupervisorHooks,
    private readonly relaunch: (name: string) => Promise<void>,
  ) {}

  /** Process `name`, started at `startedAt` (ms), has exited unexpectedly. */
  crashed(name: string, startedAt: number): CrashVerdict | undefined {
    if (this.stopped) return undefined;
    let history = this.histories.get(name);
    if (!history) {
      history = new CrashHistory(this.policy);
      this.histories.set(name, history);
    }
    const verdict = history.crashed(Date.now(), startedAt);
    if (verdict.action === "give-up") {
      this.hooks.onGiveUp?.(name, { crashes: verdict.crashes, windowMs: verdict.windowMs });
      return verdict;
    }
    this.hooks.onRestarting?.(name, { attempt: verdict.attempt, delayMs: verdict.delayMs });
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopped) return;
      const began = Date.now();
      this.relaunch(name).then(
        () => this.hooks.onRestarted?.(name, { attempt: verdict.attempt, elapsedMs: Date.now() - began }),
        () => undefined,
      );
    }, verdict.delayMs);
    this.timers.add(timer);
    return verdict;
  }

  /** No more restarts (the system is stopping). */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
