/**
 * @mercato/sdk: the buf-generated protobuf-es descriptors and types of every Mercato contract, one
 * namespace per proto package (`identityV1.UserSchema`, `orderV1.OrderService`, …), plus the lists the
 * gateway and gRPC reflection are built from. Typed Connect clients are in `@mercato/sdk/connect`
 * (Node) and `@mercato/sdk/clients` (any transport, browsers included).
 *
 * @module
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { getOption, hasOption } from "@bufbuild/protobuf";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import * as catalogV1 from "./api/catalog-v1.js";
import * as identityV1 from "./api/identity-v1.js";
import * as identityV2 from "./api/identity-v2.js";
import * as inventoryV1 from "./api/inventory-v1.js";
import * as notificationV1 from "./api/notification-v1.js";
import * as orderV1 from "./api/order-v1.js";
import * as paymentV1 from "./api/payment-v1.js";
import * as shippingV1 from "./api/shipping-v1.js";
import * as testingV1 from "./api/testing-v1.js";
import { file_mercato_catalog_v1_catalog } from "./gen/mercato/catalog/v1/catalog_pb.js";
import { file_mercato_catalog_v1_events } from "./gen/mercato/catalog/v1/events_pb.js";
import { file_mercato_common_v1_address } from "./gen/mercato/common/v1/address_pb.js";
import { file_mercato_common_v1_money } from "./gen/mercato/common/v1/money_pb.js";
import {
  Access,
  type EdgeRule,
  edge,
  file_mercato_common_v1_options,
} from "./gen/mercato/common/v1/options_pb.js";
import { file_mercato_common_v1_paging } from "./gen/mercato/common/v1/paging_pb.js";
import { file_mercato_identity_v1_events } from "./gen/mercato/identity/v1/events_pb.js";
import { file_mercato_identity_v1_identity } from "./gen/mercato/identity/v1/identity_pb.js";
import { file_mercato_identity_v2_identity } from "./gen/mercato/identity/v2/identity_pb.js";
import { file_mercato_inventory_v1_events } from "./gen/mercato/inventory/v1/events_pb.js";
import { file_mercato_inventory_v1_inventory } from "./gen/mercato/inventory/v1/inventory_pb.js";
import { file_mercato_notification_v1_events } from "./gen/mercato/notification/v1/events_pb.js";
import { file_mercato_notification_v1_notification } from "./gen/mercato/notification/v1/notification_pb.js";
import { file_mercato_order_v1_events } from "./gen/mercato/order/v1/events_pb.js";
import { file_mercato_order_v1_order } from "./gen/mercato/order/v1/order_pb.js";
import { file_mercato_payment_v1_events } from "./gen/mercato/payment/v1/events_pb.js";
import { file_mercato_payment_v1_payment } from "./gen/mercato/payment/v1/payment_pb.js";
import { file_mercato_shipping_v1_events } from "./gen/mercato/shipping/v1/events_pb.js";
import { file_mercato_shipping_v1_shipping } from "./gen/mercato/shipping/v1/shipping_pb.js";
import { file_mercato_testing_v1_probe } from "./gen/mercato/testing/v1/probe_pb.js";

export * as commonV1 from "./api/common-v1.js";
export {
  catalogV1,
  identityV1,
  identityV2,
  inventoryV1,
  notificationV1,
  orderV1,
  paymentV1,
  shippingV1,
  testingV1,
};

/**
 * Every generated file descriptor, in dependency order (common first). Their own dependencies on
 * google/protobuf well-known types are reachable through each file's `dependencies`.
 */
export const allFiles = [
  file_mercato_common_v1_options,
  file_mercato_common_v1_money,
  file_mercato_common_v1_paging,
  file_mercato_common_v1_address,
  file_mercato_identity_v1_identity,
  file_mercato_identity_v1_events,
  file_mercato_identity_v2_identity,
  file_mercato_catalog_v1_catalog,
  file_mercato_catalog_v1_events,
  file_mercato_inventory_v1_inventory,
  file_mercato_inventory_v1_events,
  file_mercato_order_v1_events,
  file_mercato_order_v1_order,
  file_mercato_payment_v1_payment,
  file_mercato_payment_v1_events,
  file_mercato_shipping_v1_shipping,
  file_mercato_shipping_v1_events,
  file_mercato_notification_v1_notification,
  file_mercato_notification_v1_events,
  file_mercato_testing_v1_probe,
] as const satisfies readonly GenFile[];

/**
 * Every service descriptor, the internal ones included: the gateway exposes only the methods whose
 * edge rule allows it (see {@link edgeRuleOf}), and every server registers reflection for its own.
 */
export const services = [
  identityV1.IdentityService,
  identityV2.IdentityService,
  catalogV1.CatalogService,
  inventoryV1.InventoryService,
  orderV1.OrderService,
  paymentV1.PaymentService,
  shippingV1.ShippingService,
  notificationV1.NotificationService,
  testingV1.ProbeService,
] as const satisfies readonly DescService[];

/** The edge policy of one RPC, with the contract's defaults applied. */
export interface EdgePolicy {
  /** Who may call the RPC at the edge; never ACCESS_UNSPECIFIED (that reads as ACCESS_INTERNAL). */
  readonly access: Access;
  /** Top-level string request field naming the owning user; undefined when the RPC has none. */
  readonly ownerField: string | undefined;
}

/**
 * Reads the `(mercato.common.v1.edge)` option of an RPC. An absent option or ACCESS_UNSPECIFIED
 * means ACCESS_INTERNAL, as the option's contract says, so callers never have to special-case either.
 */
export function edgeRuleOf(method: DescMethod): EdgePolicy {
  const rule: EdgeRule | undefined = hasOption(method, edge) ? getOption(method, edge) : undefined;
  const access = rule === undefined || rule.access === Access.UNSPECIFIED ? Access.INTERNAL : rule.access;
  const ownerField = rule !== undefined && rule.ownerField !== "" ? rule.ownerField : undefined;
  return { access, ownerField };
}
