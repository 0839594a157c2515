/**
 * OrderService handlers: validate, check who is asking, then run the domain against the event store
 * (commands) or read the projections (queries).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Database } from "@mercato/platform/db";
import {
  Code,
  codeOf,
  type FieldViolation,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  ServiceError,
  unauthenticated,
} from "@mercato/platform/errors";
import type { HandlerContext, ServiceHandlers } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import { captureOrigin } from "@mercato/platform/telemetry";
import { AddressSchema } from "@mercato/sdk/gen/mercato/common/v1/address_pb";
import {
  type Order,
  OrderHistoryEntrySchema,
  OrderSchema,
  type OrderService,
  OrderStatus,
  SagaState,
  SagaStep,
  SagaStepOutcome,
} from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import type { JetStreamClient } from "nats";
import { uuidv7 } from "uuidv7";
import type { CatalogClient } from "../clients/catalog.js";
import { appendEvents, encodeEvent, loadEvents, loadOrder } from "../db/event-store.js";
import { claimRequest, findOrder, findRequest, listOrders, type OrderRecord } from "../db/orders.js";
import { readStatistics } from "../db/projections.js";
import { requestCancellation, sagaOfOrder, sagaTimeline } from "../db/sagas.js";
import { sagas } from "../db/schema.js";
import {
  decidePlace,
  isCancellable,
  OrderRuleError,
  orderTotal,
  type PlaceCommand,
} from "../domain/order.js";
import { placeOrderViolations, requestHash } from "../domain/requests.js";
import { initialFacts, initialPosition } from "../domain/saga.js";
import { readDeadLetters } from "../events/dead-letters.js";

/** What the saga driver offers the handlers. */
export interface SagaControl {
  /** Look for due sagas now. */
  wake(): void;
  /** Resolves when this replica stops driving the saga, or after `timeoutMs`. */
  waitForSaga(sagaId: string, timeoutMs: number): Promise<void>;
}

/** Dependencies of {@link createOrderHandlers}. */
export interface OrderHandlerDeps {
  // biome-ignore lint/suspicious/noExplicitAny: handlers use the order tables through SqlExecutor
  readonly database: Database<any>;
  readonly catalog: CatalogClient;
  readonly saga: SagaControl;
  readonly logger: Logger;
  /** JetStream, for reading the shared dead-letter stream. */
  readonly js: JetStreamClient;
}

const ADMIN = "admin";
const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function caller(ctx: HandlerContext): { userId: string; admin: boolean } {
  if (!ctx.userId) throw unauthenticated("a signed-in user is required");
  return { userId: ctx.userId, admin: ctx.role === ADMIN };
}

function requireOrderId(orderId: string): void {
  if (orderId === "") throw invalidArgument([{ field: "order_id", description: "is required" }]);
  if (!UUID.test(orderId)) throw invalidArgument([{ field: "order_id", description: "must be a UUID" }]);
}

/** The Order message of a view and its saga. */
export function toOrder(record: OrderRecord): Order {
  const { view, saga } = record;
  const money = (amountMinor: bigint) => ({ currencyCode: view.currencyCode, amountMinor });
  return create(OrderSchema, {
    id: view.orderId,
    userId: view.userId,
    status: view.status as OrderStatus,
    lines: view.lines.map((line) => {
      const unit = BigInt(line.unitPriceMinor);
      return {
        productId: line.productId,
        sku: line.sku,
        name: line.name,
        quantity: line.quantity,
        unitPrice: money(unit),
        lineTotal: money(unit * BigInt(line.quantity)),
      };
    }),
    total: money(view.totalMinor),
    cancelReason: view.cancelReason,
    saga: {
      step: (saga?.step ?? SagaStep.UNSPECIFIED) as SagaStep,
      state: (saga?.state ?? SagaState.UNSPECIFIED) as SagaState,
    },
    ...(view.shippingAddress ? { shippingAddress: create(AddressSchema, view.shippingAddress) } : {}),
    paymentId: view.paymentId,
    shipmentId: view.shipmentId,
    trackingNumber: view.trackingNumber,
    version: BigInt(view.version),
    createdAt: timestampFromDate(view.createdAt),
    updatedAt: timestampFromDate(view.updatedAt),
  });
}

function encodeCursor(record: OrderRecord): string {
  return Buffer.from(
    JSON.stringify({ c: record.view.createdAt.toISOString(), i: record.view.orderId }),
  ).toString("base64url");
}

function decodeCursor(token: string): { createdAt: Date; orderId: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      c?: unknown;
      i?: unknown;
    };
    if (typeof parsed.c === "string" && typeof parsed.i === "string" && UUID.test(parsed.i)) {
      const createdAt = new Date(parsed.c);
      if (!Number.isNaN(createdAt.getTime())) return { createdAt, orderId: parsed.i };
    }
  } catch {
    // fall through
  }
  throw invalidArgument([{ field: "page_token", description: "is not a token from a previous response" }]);
}

/** Builds the OrderService handlers. */
export function createOrderHandlers(deps: OrderHandlerDeps): ServiceHandlers<typeof OrderService> {
  const { database, catalog, saga } = deps;

  /** One page of a user's orders, or of every user's when `userId` is undefined. */
  const pageOfOrders = async (
    userId: string | undefined,
    request: { pageSize: number; pageToken: string; status: OrderStatus },
  ) => {
    if (request.pageSize < 0) {
      throw invalidArgument([{ field: "page_size", description: "must not be negative" }]);
    }
    const limit = Math.min(request.pageSize || DEFAULT_PAGE, MAX_PAGE);
    const records = await listOrders(database.db, {
      ...(userId !== undefined ? { userId } : {}),
      limit: limit + 1,
      ...(request.status !== OrderStatus.UNSPECIFIED ? { status: request.status } : {}),
      ...(request.pageToken ? { after: decodeCursor(request.pageToken) } : {}),
    });
    const page = records.slice(0, limit);
    const last = page.at(-1);
    return {
      orders: page.map(toOrder),
      nextPageToken: records.length > limit && last ? encodeCursor(last) : "",
    };
  };

  /** The order as its owner (or an admin) may see it; NOT_FOUND for anyone else. */
  const visibleOrder = async (orderId: string, ctx: HandlerContext): Promise<OrderRecord> => {
    requireOrderId(orderId);
    const who = caller(ctx);
    const record = await findOrder(database.db, orderId);
    if (record === undefined || (!who.admin && record.view.userId !== who.userId)) {
      throw notFound(`order ${orderId} not found`);
    }
    return record;
  };

  const priceLines = async (lines: readonly { productId: string; quantity: number }[]) => {
    const violations: FieldViolation[] = [];
    const priced = await Promise.all(
      lines.map(async (line, index) => {
        const field = `lines[${index}].product_id`;
        try {
          const { product } = await catalog.getProduct({ productId: line.productId });
          if (!product?.price) {
            violations.push({ field, description: "is not a known product" });
            return undefined;
          }
          if (!product.active) {
            violations.push({ field, description: "is not for sale" });
            return undefined;
          }
          return {
            productId: line.productId,
            sku: product.sku,
            name: product.name,
            quantity: line.quantity,
            unitPriceMinor: product.price.amountMinor,
            currencyCode: product.price.currencyCode,
          };
        } catch (error) {
          const code = codeOf(error);
          if (code === Code.NOT_FOUND || code === Code.INVALID_ARGUMENT) {
            violations.push({ field, description: "is not a known product" });
            return undefined;
          }
          throw error;
        }
      }),
    );
    if (violations.length > 0) throw invalidArgument(violations);
    return priced.filter((line) => line !== undefined);
  };

  const existingOrder = async (userId: string, key: string, hash: string): Promise<Order | undefined> => {
    const existing = await findRequest(database.db, userId, key);
    if (existing === undefined) return undefined;
    if (existing.requestHash !== hash) {
      throw failedPrecondition(
        "this idempotency key was used for a different order; use a new key for a new order",
      );
    }
    const record = await findOrder(database.db, existing.orderId);
    if (record === undefined) throw new ServiceError(Code.INTERNAL, "idempotency key without an order");
    return toOrder(record);
  };

  return {
    async placeOrder(request, ctx) {
      const who = caller(ctx);
      const userId = request.userId || who.userId;
      if (userId !== who.userId && !who.admin) {
        throw permissionDenied("orders can only be placed for yourself");
      }
      const violations = placeOrderViolations(request);
      if (violations.length > 0) throw invalidArgument(violations);
      const hash = requestHash(userId, request);

      const replayed = await existingOrder(userId, request.idempotencyKey, hash);
      if (replayed) return { order: replayed };

      const lines = await priceLines(request.lines);
      const orderId = uuidv7();
      const sagaId = uuidv7();
      const command: PlaceCommand = {
        orderId,
        eventId: uuidv7(),
        userId,
        idempotencyKey: request.idempotencyKey,
        lines,
        shippingAddress: request.shippingAddress ?? create(AddressSchema),
        now: new Date(),
      };
      let placed: ReturnType<typeof decidePlace>;
      try {
        placed = decidePlace(command);
      } catch (error) {
        if (error instanceof OrderRuleError) throw failedPrecondition(error.message);
        throw error;
      }
      if (orderTotal(lines) > (1n << 63n) - 1n) {
        throw invalidArgument([{ field: "lines", description: "the order total is too large" }]);
      }
      // The saga's steps run later, maybe on another replica, as part of this call's request and trace.
      const origin = captureOrigin();
      const stored = await database.transaction(async (tx) => {
        const claimed = await claimRequest(tx, {
          userId,
          idempotencyKey: request.idempotencyKey,
          requestHash: hash,
          orderId,
        });
        if (!claimed) return false;
        const state = await appendEvents(tx, undefined, [placed]);
        await tx.insert(sagas).values({
          sagaId,
          orderId,
          userId,
          state: initialPosition.state,
          step: initialPosition.step,
          paymentToken: request.paymentToken,
          currencyCode: state.currencyCode,
          amountMinor: state.totalMinor,
          lines: state.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
          origin,
          ...initialFacts,
        });
        return true;
      });
      if (!stored) {
        // A concurrent request with the same key won the race: answer with its order.
        const winner = await existingOrder(userId, request.idempotencyKey, hash);
        if (winner) return { order: winner };
        throw new ServiceError(Code.ABORTED, "concurrent request with the same idempotency key; retry");
      }
      saga.wake();
      const record = await findOrder(database.db, orderId);
      if (record === undefined) throw new ServiceError(Code.INTERNAL, "placed order not found");
      deps.logger.info({ orderId, sagaId, userId, lines: lines.length }, "order placed");
      return { order: toOrder(record) };
    },

    async getOrder(request, ctx) {
      return { order: toOrder(await visibleOrder(request.orderId, ctx)) };
    },

    async listOrders(request, ctx) {
      const who = caller(ctx);
      const userId = request.userId || who.userId;
      if (userId !== who.userId && !who.admin) throw permissionDenied("you can only list your own orders");
      return pageOfOrders(userId, request);
    },

    async listAllOrders(request, ctx) {
      if (!caller(ctx).admin) throw permissionDenied("listing every user's orders is for admins");
      return pageOfOrders(undefined, request);
    },

    async listDeadLetters(request, ctx) {
      if (!caller(ctx).admin) throw permissionDenied("dead letters are for admins");
      if (request.pageSize < 0) {
        throw invalidArgument([{ field: "page_size", description: "must not be negative" }]);
      }
      if (!/^[A-Za-z0-9_-]{0,200}$/.test(request.consumer)) {
        throw invalidArgument([{ field: "consumer", description: "is not a consumer name" }]);
      }
      if (request.pageToken !== "" && !/^[1-9]\d{0,15}$/.test(request.pageToken)) {
        throw invalidArgument([
          { field: "page_token", description: "is not a token from a previous response" },
        ]);
      }
      const page = await readDeadLetters(deps.js, {
        consumer: request.consumer,
        from: request.pageToken === "" ? 1 : Number(request.pageToken),
        limit: Math.min(request.pageSize || DEFAULT_PAGE, MAX_PAGE),
      });
      return {
        deadLetters: page.deadLetters,
        nextPageToken: page.next === undefined ? "" : String(page.next),
      };
    },

    async getSagaTimeline(request, ctx) {
      if (!caller(ctx).admin) throw permissionDenied("saga timelines are for admins");
      requireOrderId(request.orderId);
      const row = await sagaOfOrder(database.db, request.orderId);
      if (row === undefined) throw notFound(`order ${request.orderId} not found`);
      const steps = await sagaTimeline(database.db, row.sagaId);
      return {
        saga: { step: row.step as SagaStep, state: row.state as SagaState },
        lastError: row.lastError ?? "",
        entries: steps.map((entry) => ({
          step: entry.step as SagaStep,
          outcome: SagaStepOutcome[entry.state.toUpperCase() as keyof typeof SagaStepOutcome] ?? 0,
          attempt: entry.attempt,
          detail: entry.detail ?? "",
          at: timestampFromDate(entry.at),
          compensation: entry.step >= SagaStep.VOID_PAYMENT,
        })),
      };
    },

    async cancelOrder(request, ctx) {
      const record = await visibleOrder(request.orderId, ctx);
      if (request.reason.length > 500) {
        throw invalidArgument([{ field: "reason", description: "must be at most 500 characters" }]);
      }
      const reason = request.reason.trim() || "cancelled by customer";
      const result = await database.transaction(async (tx) => {
        const state = await loadOrder(tx, request.orderId);
        if (state === undefined) throw notFound(`order ${request.orderId} not found`);
        if (state.status === OrderStatus.CANCELLED) return undefined;
        // The saga row lock taken here is also taken by the shipment commands, so a cancellation and
        // a shipment cannot both win.
        const requested = await requestCancellation(tx, request.orderId, reason);
        const current = await loadOrder(tx, request.orderId);
        if (current && !isCancellable(current)) {
          throw failedPrecondition("the order has shipped and can no longer be cancelled");
        }
        return requested.saga;
      });
      if (result === undefined) return { order: toOrder(record) };
      saga.wake();
      // Give the compensation a moment so the caller usually sees the final state; it continues anyway.
      const budget = Math.min(5_000, ctx.deadline ? ctx.deadline - Date.now() - 250 : 5_000);
      const until = Date.now() + budget;
      for (;;) {
        const latest = await findOrder(database.db, request.orderId);
        if (latest && (latest.view.status === OrderStatus.CANCELLED || Date.now() >= until)) {
          return { order: toOrder(latest) };
        }
        await saga.waitForSaga(result.sagaId, Math.max(10, Math.min(250, until - Date.now())));
      }
    },

    async getOrderHistory(request, ctx) {
      await visibleOrder(request.orderId, ctx);
      const events = await loadEvents(database.db, request.orderId);
      return {
        events: events.map((event) =>
          create(OrderHistoryEntrySchema, {
            version: event.data.version,
            eventType: encodeEvent(event).type,
            ...(event.data.occurredAt ? { occurredAt: event.data.occurredAt } : {}),
            event: { case: event.kind, value: event.data } as never,
          }),
        ),
      };
    },

    async getOrderStatistics(_request, ctx) {
      const who = caller(ctx);
      if (!who.admin) throw permissionDenied("order statistics are for admins");
      const { counters, updatedAt } = await readStatistics(database.db);
      const byStatus: { status: OrderStatus; count: bigint }[] = [];
      const revenue: { currencyCode: string; amountMinor: bigint }[] = [];
      for (const [key, value] of counters) {
        if (key.startsWith("status:")) {
          const status = OrderStatus[key.slice("status:".length) as keyof typeof OrderStatus];
          if (status !== undefined) byStatus.push({ status, count: value });
        } else if (key.startsWith("revenue:")) {
          revenue.push({ currencyCode: key.slice("revenue:".length), amountMinor: value });
        }
      }
      byStatus.sort((a, b) => a.status - b.status);
      revenue.sort((a, b) => a.currencyCode.localeCompare(b.currencyCode));
      return {
        totalOrders: counters.get("orders") ?? 0n,
        byStatus,
        revenue,
        unitsSold: counters.get("units") ?? 0n,
        ...(updatedAt ? { updatedAt: timestampFromDate(updatedAt) } : {}),
      };
    },
  };
}
