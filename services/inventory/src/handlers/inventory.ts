/**
 * InventoryService handlers: validate, then run the operation. SetStock and AdjustStock are for
 * admins (the gateway enforces the contract's access option; the handlers check `ctx.role` again).
 * Reserve, Commit, Release and Restock are INTERNAL: never exposed at the edge, called by the order
 * saga.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Database } from "@mercato/platform/db";
import { invalidArgument, permissionDenied } from "@mercato/platform/errors";
import type { HandlerContext, ServiceHandlers } from "@mercato/platform/grpc";
import {
  type InventoryService,
  type ReservationSchema,
  ReservationStatus,
} from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import type { StoredReservation } from "../db/queries.js";
import type { InventorySchema } from "../db/schema.js";
import {
  available,
  checkLines,
  checkReason,
  checkReservationId,
  checkSku,
  type Level,
  reservationTtl,
  type Violation,
} from "../domain/rules.js";
import { adjustStock, commit, getStock, release, reserve, restock, setStock } from "../operations.js";

export interface InventoryHandlerDeps {
  readonly database: Database<InventorySchema>;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly lowStockThreshold: number;
}

function requireAdmin(ctx: HandlerContext): void {
  if (ctx.role !== "admin") throw permissionDenied("only admins may change stock");
}

function rejectIfAny(problems: readonly Violation[]): void {
  if (problems.length > 0) throw invalidArgument(problems);
}

const levels = (sku: string, level: Level) => ({
  sku,
  onHand: level.onHand,
  reserved: level.reserved,
  available: available(level),
});

const statuses = {
  held: ReservationStatus.HELD,
  committed: ReservationStatus.COMMITTED,
  released: ReservationStatus.RELEASED,
  expired: ReservationStatus.EXPIRED,
  restocked: ReservationStatus.RESTOCKED,
} as const;

function reservationMessage(r: StoredReservation): MessageInitShape<typeof ReservationSchema> {
  return {
    id: r.id,
    orderId: r.orderId,
    status: statuses[r.status],
    lines: r.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
    ...(r.expiresAt ? { expiresAt: timestampFromDate(r.expiresAt) } : {}),
    createdAt: timestampFromDate(r.createdAt),
  };
}

export function createInventoryHandlers(
  deps: InventoryHandlerDeps,
): ServiceHandlers<typeof InventoryService> {
  const { database, lowStockThreshold } = deps;
  return {
    async getStock(request) {
      rejectIfAny(checkSku(request.sku));
      return levels(request.sku, await getStock(database, request.sku));
    },

    async setStock(request, ctx) {
      requireAdmin(ctx);
      rejectIfAny([
        ...checkSku(request.sku),
        ...(request.onHand < 0 ? [{ field: "on_hand", description: "must not be negative" }] : []),
      ]);
      return levels(request.sku, await setStock(database, lowStockThreshold, request.sku, request.onHand));
    },

    async adjustStock(request, ctx) {
      requireAdmin(ctx);
      rejectIfAny([
        ...checkSku(request.sku),
        ...(request.delta === 0 ? [{ field: "delta", description: "must not be zero" }] : []),
        ...checkReason(request.reason),
      ]);
      return levels(
        request.sku,
        await adjustStock(database, lowStockThreshold, request.sku, request.delta, request.reason),
      );
    },

    async reserve(request) {
      const ttl = reservationTtl(request.ttlSeconds, deps.defaultTtlSeconds, deps.maxTtlSeconds);
      const lines = request.lines.map((l) => ({ sku: l.sku, quantity: l.quantity }));
      rejectIfAny([
        ...checkReservationId(request.reservationId),
        ...checkLines(lines),
        ...ttl.problems,
        ...([...request.orderId].length > 128
          ? [{ field: "order_id", description: "must be at most 128 characters" }]
          : []),
      ]);
      const reservation = await reserve(database, lowStockThreshold, {
        id: request.reservationId,
        orderId: request.orderId,
        lines,
        ttlSeconds: ttl.seconds,
      });
      return { reservation: reservationMessage(reservation) };
    },

    async commit(request) {
      rejectIfAny(checkReservationId(request.reservationId));
      return { reservation: reservationMessage(await commit(database, request.reservationId)) };
    },

    async release(request) {
      rejectIfAny([...checkReservationId(request.reservationId), ...checkReason(request.reason)]);
      const reservation = await release(database, request.reservationId, request.reason);
      return reservation ? { reservation: reservationMessage(reservation) } : {};
    },

    async restock(request) {
      rejectIfAny([...checkReservationId(request.reservationId), ...checkReason(request.reason)]);
      const reservation = await restock(database, request.reservationId, request.reason);
      return { reservation: reservationMessage(reservation) };
    },
  };
}
