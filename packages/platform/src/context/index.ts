import { AsyncLocalStorage } from "node:async_hooks";

/** What one inbound call (or one consumed event) carries through the code that serves it. */
export interface CallContext {
  /** Correlates logs, spans and downstream calls; taken from `x-request-id` or minted at the edge. */
  readonly requestId: string;
  /** Absolute deadline in epoch milliseconds, when the caller set one. */
  readonly deadline?: number;
  /** Aborted when the caller cancels or the deadline passes. */
  readonly signal?: AbortSignal;
  /** Authenticated user id, when the caller is a user (set from the edge's metadata). */
  readonly userId?: string;
  /** Role of the authenticated user. */
  readonly role?: string;
}

const storage = new AsyncLocalStorage<CallContext>();

/** Runs `fn` with `context` as the current call context (for this async chain only). */
export function runWithContext<T>(context: CallContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The call context of the code that is running now, if any. */
export function currentContext(): CallContext | undefined {
  return storage.getStore();
}

/** Milliseconds left before the current call's deadline; undefined when there is none. */
export function remainingMs(context: CallContext | undefined = currentContext()): number | undefined {
  return context?.deadline === undefined ? undefined : context.deadline - Date.now();
}
