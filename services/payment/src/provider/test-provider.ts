import type { Database, SqlExecutor } from "@mercato/platform/db";
import { and, eq, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { type PaymentSchema, testProviderAuthorizations, testProviderRefunds } from "../db/schema.js";
import {
  type PaymentProvider,
  type ProviderAuthorizationRef,
  type ProviderAuthorizeRequest,
  type ProviderAuthorizeResult,
  ProviderRejectedError,
  ProviderUnavailableError,
} from "./provider.js";

/** The tokens the test provider knows, and what each does. */
export const TEST_TOKENS = {
  /** Approved. */
  visa: "tok_visa",
  /** Declined: "card_declined". */
  chargeDeclined: "tok_chargeDeclined",
  /** Declined: "insufficient_funds". */
  insufficientFunds: "tok_insufficientFunds",
  /** UNAVAILABLE on the first {@link UNAVAILABLE_ATTEMPTS} attempts per idempotency key, then approved. */
  unavailable: "tok_unavailable",
  /** Answers only after the caller's deadline (or cancellation) has passed, then approves. */
  slow: "tok_slow",
} as const;

/** How many attempts per idempotency key `tok_unavailable` fails before it succeeds. */
export const UNAVAILABLE_ATTEMPTS = 2;

const known = new Set<string>(Object.values(TEST_TOKENS));

/** Options for {@link TestPaymentProvider}. */
export interface TestProviderOptions {
  /** How long after the caller's deadline `tok_slow` answers (default 150 ms). */
  readonly slowExtraMs?: number;
  /** How long `tok_slow` waits when the caller set no deadline and never cancels (default 10 s). */
  readonly slowMaxMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function abortedOrAfter(signal: AbortSignal, ms: number): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * A deterministic provider for local runs and tests. Its books live in the payment database
 * (`test_provider_*` tables), so attempts and outcomes survive restarts: `tok_unavailable` fails the
 * first two attempts per key whichever process makes them, and an approved key stays approved with
 * the same reference.
 */
export class TestPaymentProvider implements PaymentProvider {
  readonly name = "test";
  private readonly slowExtraMs: number;
  private readonly slowMaxMs: number;

  constructor(
    private readonly database: Database<PaymentSchema>,
    options: TestProviderOptions = {},
  ) {
    this.slowExtraMs = options.slowExtraMs ?? 150;
    this.slowMaxMs = options.slowMaxMs ?? 10_000;
  }

  tokenProblem(token: string): string | undefined {
    return known.has(token) ? undefined : "is not a payment token the provider knows";
  }

  async authorize(request: ProviderAuthorizeRequest, signal: AbortSignal): Promise<ProviderAuthorizeResult> {
    if (!known.has(request.token)) throw new ProviderRejectedError("unknown payment token");
    const { db } = this.database;
    const [book] = await db
      .insert(testProviderAuthorizations)
      .values({ idempotencyKey: request.authorizeKey, attempts: 1 })
      .onConflictDoUpdate({
        target: testProviderAuthorizations.idempotencyKey,
        set: { attempts: sql`${testProviderAuthorizations.attempts} + 1`, updatedAt: sql`now()` },
      })
      .returning();
    if (!book) throw new Error("test provider: no row");
    if (book.outcome !== null) return this.resultOf(book);

    if (request.token === TEST_TOKENS.unavailable && book.attempts <= UNAVAILABLE_ATTEMPTS) {
      throw new ProviderUnavailableError(`test provider unavailable (attempt ${book.attempts})`);
    }
    if (request.token === TEST_TOKENS.slow) {
      await abortedOrAfter(signal, this.slowMaxMs);
      await sleep(this.slowExtraMs);
    }

    const decision: ProviderAuthorizeResult =
      request.token === TEST_TOKENS.chargeDeclined
        ? { kind: "declined", reason: "card_declined" }
        : request.token === TEST_TOKENS.insufficientFunds
          ? { kind: "declined", reason: "insufficient_funds" }
          : { kind: "approved", reference: `tp_${uuidv7()}` };
    const [decided] = await db
      .update(testProviderAuthorizations)
      .set({
        outcome: decision.kind,
        reference: decision.kind === "approved" ? decision.reference : "",
        declineReason: decision.kind === "declined" ? decision.reason : "",
        // A void that came first wins: the authorization is born released.
        state: sql`case when ${testProviderAuthorizations.state} = 'voided' then 'voided' else ${decision.kind === "approved" ? "authorized" : "declined"} end`,
        updatedAt: sql`now()`,
      })
      .where(
        and(
          eq(testProviderAuthorizations.idempotencyKey, request.authorizeKey),
          sql`${testProviderAuthorizations.outcome} is null`,
        ),
      )
      .returning();
    if (decided) return this.resultOf(decided);
    // A concurrent attempt decided first: its decision is the answer.
    const [existing] = await db
      .select()
      .from(testProviderAuthorizations)
      .where(eq(testProviderAuthorizations.idempotencyKey, request.authorizeKey));
    if (!existing) throw new Error("test provider: row vanished");
    return this.resultOf(existing);
  }

  async capture(
    authorization: ProviderAuthorizationRef,
    amountMinor: bigint,
    tx: SqlExecutor = this.database.db,
  ): Promise<void> {
    const [row] = await tx
      .update(testProviderAuthorizations)
      .set({ state: "captured", capturedMinor: amountMinor, updatedAt: sql`now()` })
      .where(
        and(
          eq(testProviderAuthorizations.idempotencyKey, authorization.authorizeKey),
          sql`${testProviderAuthorizations.state} in ('authorized', 'captured')`,
          eq(testProviderAuthorizations.outcome, "approved"),
        ),
      )
      .returning();
    if (!row) throw new ProviderRejectedError("no approved authorization to capture");
  }

  async void(authorization: ProviderAuthorizationRef, tx: SqlExecutor = this.database.db): Promise<void> {
    await tx
      .insert(testProviderAuthorizations)
      .values({ idempotencyKey: authorization.authorizeKey, state: "voided" })
      .onConflictDoUpdate({
        target: testProviderAuthorizations.idempotencyKey,
        set: {
          state: sql`case when ${testProviderAuthorizations.state} in ('new', 'authorized') then 'voided' else ${testProviderAuthorizations.state} end`,
          updatedAt: sql`now()`,
        },
      });
  }

  async refund(
    authorization: ProviderAuthorizationRef,
    amountMinor: bigint,
    refundKey: string,
    tx?: SqlExecutor,
  ): Promise<void> {
    const apply = async (executor: SqlExecutor) => {
      const inserted = await executor
        .insert(testProviderRefunds)
        .values({ refundKey, authorizeKey: authorization.authorizeKey, amountMinor })
        .onConflictDoNothing()
        .returning();
      if (inserted.length === 0) return;
      const [row] = await executor
        .update(testProviderAuthorizations)
        .set({
          refundedMinor: sql`${testProviderAuthorizations.refundedMinor} + ${amountMinor}`,
          updatedAt: sql`now()`,
        })
        .where(
          and(
            eq(testProviderAuthorizations.idempotencyKey, authorization.authorizeKey),
            eq(testProviderAuthorizations.state, "captured"),
            sql`${testProviderAuthorizations.refundedMinor} + ${amountMinor} <= ${testProviderAuthorizations.capturedMinor}`,
          ),
        )
        .returning();
      if (!row) throw new ProviderRejectedError("refund exceeds the captured amount");
    };
    // In the caller's transaction its failure rolls the caller back too; alone, it gets its own.
    await (tx ? apply(tx) : this.database.transaction(apply));
  }

  /** How many authorize attempts the provider saw for `authorizeKey` (for tests and diagnostics). */
  async attempts(authorizeKey: string): Promise<number> {
    const [row] = await this.database.db
      .select({ attempts: testProviderAuthorizations.attempts })
      .from(testProviderAuthorizations)
      .where(eq(testProviderAuthorizations.idempotencyKey, authorizeKey));
    return row?.attempts ?? 0;
  }

  /** The provider's view of an authorization (for tests and diagnostics). */
  async state(authorizeKey: string): Promise<string | undefined> {
    const [row] = await this.database.db
      .select({ state: testProviderAuthorizations.state })
      .from(testProviderAuthorizations)
      .where(eq(testProviderAuthorizations.idempotencyKey, authorizeKey));
    return row?.state;
  }

  private resultOf(row: typeof testProviderAuthorizations.$inferSelect): ProviderAuthorizeResult {
    return row.outcome === "approved"
      ? { kind: "approved", reference: row.reference }
      : { kind: "declined", reason: row.declineReason };
  }
}
