/**
 * Shared pieces: loading of remote data, loading and error states, and the status badge.
 */
import { type DependencyList, type ReactNode, useCallback, useEffect, useState } from "react";
import { friendlyError } from "./errors.js";

/** Remote data: loading, failed (with a sentence for the shopper), or loaded. */
export type Remote<T> =
  | { readonly state: "loading" }
  | { readonly state: "failed"; readonly message: string }
  | { readonly state: "loaded"; readonly value: T };

/**
 * Runs `load` when `deps` change (and again every `pollMs` when given, while `keepPolling` says so);
 * `reload` runs it again now.
 */
export function useRemote<T>(
  load: () => Promise<T>,
  deps: DependencyList,
  poll?: { readonly pollMs: number; readonly keepPolling: (value: T) => boolean },
): { readonly data: Remote<T>; readonly reload: () => void } {
  const [data, setData] = useState<Remote<T>>({ state: "loading" });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await load();
        if (!live) return;
        setData({ state: "loaded", value });
        if (poll?.keepPolling(value)) timer = setTimeout(run, poll.pollMs);
      } catch (error) {
        if (!live) return;
        setData({ state: "failed", message: friendlyError(error) });
        if (poll) timer = setTimeout(run, poll.pollMs * 3);
      }
    };
    void run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { data, reload };
}

/** Renders loading and failure states, and `children(value)` once loaded. */
export function RemoteView<T>({ data, children }: { data: Remote<T>; children: (value: T) => ReactNode }) {
  if (data.state === "loading") {
    return (
      <p className="muted" role="status" aria-live="polite">
        Loading…
      </p>
    );
  }
  if (data.state === "failed") return <Alert>{data.message}</Alert>;
  return <>{children(data.value)}</>;
}

/** A message the shopper must notice (announced by screen readers). */
export function Alert({ children, kind = "error" }: { children: ReactNode; kind?: "error" | "success" }) {
  return (
    <div className={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

/** A status (an enum value's name, such as `CONFIRMED`) as a coloured badge. */
export function StatusBadge({ label }: { label: string | undefined }) {
  label ??= "UNSPECIFIED";
  return (
    <span className={`badge badge-${label.toLowerCase()}`} data-testid="status">
      {label}
    </span>
  );
}

/** A timestamp for people. */
export function when(timestamp: { seconds: bigint; nanos: number } | undefined): string {
  if (timestamp === undefined) return "";
  return new Date(Number(timestamp.seconds) * 1000 + timestamp.nanos / 1e6).toLocaleString();
}
