/** ShippingService handlers: validate → domain → db/events. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Database } from "@mercato/platform/db";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "@mercato/platform/errors";
import type { HandlerContext, ServiceHandlers } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import type { Address } from "@mercato/sdk/gen/mercato/common/v1/address_pb";
import type { ShipmentSchema } from "@mercato/sdk/gen/mercato/shipping/v1/shipping_pb";
import { ShipmentStatus, type ShippingService } from "@mercato/sdk/gen/mercato/shipping/v1/shipping_pb";
import type { ShipmentRow, schema } from "../db/schema.js";
import { createShipment, lockShipment, setShipmentStatus, shipmentByOrder } from "../db/shipments.js";
import { quote } from "../domain/rates.js";
import {
  type AddressInput,
  isAdminRole,
  isUuid,
  nextStatus,
  type ShipmentState,
  validateQuoteInput,
  validateShipmentInput,
} from "../domain/shipment.js";
import { enqueueShipmentAdvanced } from "../events/publish.js";

/** What the handlers need. */
export interface ShippingHandlerDeps {
  readonly database: Database<typeof schema>;
  readonly logger: Logger;
}

const STATUS: Readonly<Record<ShipmentState, ShipmentStatus>> = {
  LABEL_CREATED: ShipmentStatus.LABEL_CREATED,
  SHIPPED: ShipmentStatus.SHIPPED,
  DELIVERED: ShipmentStatus.DELIVERED,
  CANCELLED: ShipmentStatus.CANCELLED,
};

/** The address of a request as the domain sees it. */
export function addressInput(address: Address | undefined): AddressInput | undefined {
  if (address === undefined) return undefined;
  return {
    name: address.name,
    line1: address.line1,
    line2: address.line2,
    city: address.city,
    region: address.region,
    postalCode: address.postalCode,
    countryCode: address.countryCode,
  };
}

/** A stored shipment as the API returns it. */
export function toShipment(row: ShipmentRow): MessageInitShape<typeof ShipmentSchema> {
  return {
    id: row.id,
    orderId: row.orderId,
    status: STATUS[row.status],
    trackingNumber: row.trackingNumber,
    userId: row.userId,
    carrier: row.carrier,
    address: row.address,
    createdAt: timestampFromDate(row.createdAt),
    ...(row.shippedAt ? { shippedAt: timestampFromDate(row.shippedAt) } : {}),
    ...(row.deliveredAt ? { deliveredAt: timestampFromDate(row.deliveredAt) } : {}),
  };
}

/** True when the caller is an admin, or a service inside the mesh (no end-user identity). */
function isPrivileged(ctx: HandlerContext): boolean {
  return ctx.userId === undefined || isAdminRole(ctx.role);
}

/** Creates the ShippingService handlers. */
export function createShippingHandlers(deps: ShippingHandlerDeps): ServiceHandlers<typeof ShippingService> {
  const { database } = deps;
  return {
    async quoteShipping(request) {
      const checked = validateQuoteInput({
        address: addressInput(request.address),
        itemCount: request.itemCount,
        currencyCode: request.currencyCode,
      });
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const q = quote(checked.input);
      return {
        price: { currencyCode: q.currencyCode, amountMinor: q.amountMinor },
        estimatedDays: q.estimatedDays,
      };
    },

    async createShipment(request) {
      const address = addressInput(request.address);
      const violations = validateShipmentInput({
        orderId: request.orderId,
        userId: request.userId,
        address,
        itemCount: request.itemCount,
      });
      if (violations.length > 0 || address === undefined) throw invalidArgument(violations);
      const outcome = await database.transaction((tx) =>
        createShipment(tx, {
          orderId: request.orderId,
          userId: request.userId,
          address,
          itemCount: request.itemCount,
        }),
      );
      if (outcome.kind === "order_cancelled") throw failedPrecondition("the order is cancelled");
      if (outcome.shipment.userId !== request.userId) {
        throw failedPrecondition("the order's shipment belongs to another user");
      }
      return { shipment: toShipment(outcome.shipment) };
    },

    async getShipment(request, ctx) {
      if (!isUuid(request.orderId)) {
        throw invalidArgument([{ field: "order_id", description: "must be a UUID" }]);
      }
      const row = await shipmentByOrder(database.db, request.orderId);
      // Another user's shipment is reported as missing: its existence is not the caller's business.
      if (!row || (!isPrivileged(ctx) && row.userId !== ctx.userId)) {
        throw notFound(`no shipment for order ${request.orderId}`);
      }
      return { shipment: toShipment(row) };
    },

    async advanceShipment(request, ctx) {
      if (!isPrivileged(ctx)) throw permissionDenied("only admins may advance shipments");
      if (!isUuid(request.shipmentId)) {
        throw invalidArgument([{ field: "shipment_id", description: "must be a UUID" }]);
      }
      const advanced = await database.transaction(async (tx) => {
        const row = await lockShipment(tx, request.shipmentId);
        if (!row) throw notFound(`no shipment ${request.shipmentId}`);
        const next = nextStatus(row.status);
        if (next === undefined) {
          throw failedPrecondition(`a ${row.status.toLowerCase().replace("_", " ")} shipment cannot advance`);
        }
        const updated = await setShipmentStatus(tx, row, next);
        await enqueueShipmentAdvanced(tx, updated);
        return updated;
      });
      deps.logger.info(
        { shipmentId: advanced.id, orderId: advanced.orderId, status: advanced.status },
        "shipment advanced",
      );
      return { shipment: toShipment(advanced) };
    },
  };
}
