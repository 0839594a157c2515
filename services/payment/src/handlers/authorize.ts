import { aborted, failedPrecondition, invalidArgument, unavailable } from "@mercato/platform/errors";
import type { HandlerContext } from "@mercato/platform/grpc";
import type { AuthorizeRequest } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { eq, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import {
  hasTombstone,
  insertPayment,
  lockAuthorizeKey,
  paymentById,
  paymentByKey,
  updatePayment,
} from "../db/queries.js";
import { type PaymentRow, payments } from "../db/schema.js";
import {
  authorizeRequestHash,
  authorizeViolations,
  type MoneyInput,
  tokenFingerprint,
} from "../domain/payment.js";
import { publishPaymentAuthorized, publishPaymentFailed } from "../events/publish.js";
import { ProviderUnavailableError } from "../provider/provider.js";
import { toPayment } from "./convert.js";
import type { PaymentHandlerDeps } from "./deps.js";

/** How long an Authorize may own a pending payment beyond its own deadline before another may take over. */
const LEASE_MARGIN_MS = 1_000;
/** Lease for a call without a deadline. */
const LEASE_WITHOUT_DEADLINE_MS = 30_000;
/** How often a second Authorize with the same key looks whether the first one finished. */
const WAIT_POLL_MS = 20;

type Claim =
  | { readonly kind: "done"; readonly row: PaymentRow }
  | { readonly kind: "drive"; readonly row: PaymentRow }
  | { readonly kind: "wait" };

const voidedBeforeAuthorization = () =>
  aborted("the authorization for this idempotency key was voided before it completed");

function sleep(ms: number, signal: AbortSignal): Promise<void> {
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
 * Authorize, idempotent by key:
 * 1. claim (one transaction under the key's advisory lock): a tombstone → ABORTED; an existing
 *    payment with another body → FAILED_PRECONDITION; a decided one → returned as is; a pending one
 *    owned by a live call → wait for it; otherwise insert (or take over) the pending payment with a lease;
 * 2. drive: call the provider outside any transaction (it is idempotent by the same key);
 * 3. finalize (one transaction): PENDING → AUTHORIZED or FAILED with its event; if a Void came
 *    meanwhile the payment stays VOIDED, the provider's authorization is released, and the call is ABORTED.
 */
export function createAuthorizeHandler(deps: PaymentHandlerDeps) {
  const { database, provider, logger } = deps;

  const claim = (request: AuthorizeRequest, amount: MoneyInput, hash: string, ctx: HandlerContext) =>
    database.transaction(async (tx): Promise<Claim> => {
      const key = request.idempotencyKey;
      await lockAuthorizeKey(tx, key);
      if (await hasTombstone(tx, key)) throw voidedBeforeAuthorization();
      const leaseMs =
        ctx.deadline === undefined
          ? LEASE_WITHOUT_DEADLINE_MS
          : Math.max(0, Math.min(ctx.deadline - Date.now(), LEASE_WITHOUT_DEADLINE_MS)) + LEASE_MARGIN_MS;
      const leaseUntil = new Date(Date.now() + leaseMs);
      const existing = await paymentByKey(tx, key, { forUpdate: true });
      if (!existing) {
        const row = await insertPayment(tx, {
          id: uuidv7(),
          authorizeKey: key,
          requestHash: hash,
          orderId: request.orderId,
          userId: request.userId,
          currencyCode: amount.currencyCode,
          amountMinor: amount.amountMinor,
          status: "PENDING",
          tokenFingerprint: tokenFingerprint(request.paymentToken),
          leaseUntil,
        });
        return { kind: "drive", row };
      }
      if (existing.requestHash !== hash) {
        throw failedPrecondition("the idempotency key was used before with a different request");
      }
      if (existing.status === "VOIDED" && existing.authorizedAt === null) throw voidedBeforeAuthorization();
      if (existing.status !== "PENDING") return { kind: "done", row: existing };
      if (existing.leaseUntil !== null && existing.leaseUntil.getTime() > Date.now()) return { kind: "wait" };
      // Nobody drives it (a transient failure, or its owner died): this call takes over.
      const row = await updatePayment(tx, existing.id, { leaseUntil });
      return { kind: "drive", row };
    });

  const releaseLease = async (id: string) => {
    await database.db
      .update(payments)
      .set({ leaseUntil: null, updatedAt: sql`now()` })
      .where(sql`${eq(payments.id, id)} and ${payments.status} = 'PENDING'`);
  };

  const drive = async (pending: PaymentRow, request: AuthorizeRequest, ctx: HandlerContext) => {
    let decision: Awaited<ReturnType<typeof provider.authorize>>;
    try {
      decision = await provider.authorize(
        {
          authorizeKey: pending.authorizeKey,
          token: request.paymentToken,
          currencyCode: pending.currencyCode,
          amountMinor: pending.amountMinor,
        },
        ctx.signal,
      );
    } catch (error) {
      await releaseLease(pending.id).catch((releaseError: unknown) =>
        logger.warn({ err: releaseError, paymentId: pending.id }, "cannot release the authorize lease"),
      );
      if (error instanceof ProviderUnavailableError) {
        throw unavailable("the payment provider is unavailable; retry with the same idempotency key", error);
      }
      throw error;
    }

    const outcome = await database.transaction(async (tx) => {
      const row = await paymentById(tx, pending.id, { forUpdate: true });
      if (!row) throw new Error(`payment ${pending.id} vanished`);
      if (row.status === "PENDING") {
        if (decision.kind === "approved") {
          const authorized = await updatePayment(tx, row.id, {
            status: "AUTHORIZED",
            providerReference: decision.reference,
            authorizedAt: new Date(),
            leaseUntil: null,
          });
          await publishPaymentAuthorized(tx, authorized);
          return { row: authorized, voidedMeanwhile: false };
        }
        const failed = await updatePayment(tx, row.id, {
          status: "FAILED",
          failureReason: decision.reason,
          leaseUntil: null,
        });
        await publishPaymentFailed(tx, failed);
        return { row: failed, voidedMeanwhile: false };
      }
      if (row.status === "VOIDED" && row.authorizedAt === null) {
        const reference = decision.kind === "approved" ? decision.reference : "";
        const voided =
          reference !== "" && row.providerReference === ""
            ? await updatePayment(tx, row.id, { providerReference: reference })
            : row;
        return { row: voided, voidedMeanwhile: true };
      }
      // Another call (one that took over the lease) finished first: its result stands.
      return { row, voidedMeanwhile: false };
    });

    if (outcome.voidedMeanwhile) {
      if (decision.kind === "approved") {
        await provider.void({ authorizeKey: pending.authorizeKey, reference: decision.reference });
      }
      logger.info({ paymentId: pending.id }, "late authorization released: the payment was voided meanwhile");
      throw voidedBeforeAuthorization();
    }
    if (outcome.row.status === "AUTHORIZED") {
      logger.info({ paymentId: outcome.row.id, orderId: outcome.row.orderId }, "payment authorized");
    } else if (outcome.row.status === "FAILED") {
      logger.info(
        { paymentId: outcome.row.id, orderId: outcome.row.orderId, reason: outcome.row.failureReason },
        "payment declined",
      );
    }
    return outcome.row;
  };

  return async (request: AuthorizeRequest, ctx: HandlerContext) => {
    const violations = authorizeViolations(request);
    const tokenProblem =
      request.paymentToken === "" ? undefined : provider.tokenProblem(request.paymentToken);
    if (tokenProblem !== undefined) violations.push({ field: "payment_token", description: tokenProblem });
    if (violations.length > 0 || request.amount === undefined) throw invalidArgument(violations);
    const amount: MoneyInput = request.amount;
    const hash = authorizeRequestHash({ ...request, amount });

    for (;;) {
      const claimed = await claim(request, amount, hash, ctx);
      if (claimed.kind === "done") return { payment: toPayment(claimed.row) };
      if (claimed.kind === "drive") return { payment: toPayment(await drive(claimed.row, request, ctx)) };
      // Another call with this key is talking to the provider: wait for its answer (or our deadline).
      await sleep(WAIT_POLL_MS, ctx.signal);
      if (ctx.signal.aborted) throw ctx.signal.reason;
    }
  };
}
