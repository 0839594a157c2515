/**
 * Typed Connect clients for every Mercato service exposed at the edge, over any Connect transport:
 * connect-web's `createConnectTransport` in browsers, connect-node's in Node (see `./connect.ts`).
 * Imports nothing Node-specific.
 *
 * @module
 */
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { CatalogService } from "./gen/mercato/catalog/v1/catalog_pb.js";
import { IdentityService as IdentityServiceV1 } from "./gen/mercato/identity/v1/identity_pb.js";
import { IdentityService as IdentityServiceV2 } from "./gen/mercato/identity/v2/identity_pb.js";
import { InventoryService } from "./gen/mercato/inventory/v1/inventory_pb.js";
import { NotificationService } from "./gen/mercato/notification/v1/notification_pb.js";
import { OrderService } from "./gen/mercato/order/v1/order_pb.js";
import { PaymentService } from "./gen/mercato/payment/v1/payment_pb.js";
import { ShippingService } from "./gen/mercato/shipping/v1/shipping_pb.js";

/** A bearer token, or a function returning the current one (undefined: send none). */
export type TokenSource = string | (() => string | undefined);

/** One typed client per Mercato service. */
export interface MercatoClient {
  /** mercato.identity.v1.IdentityService: register, log in, users, JWKS. */
  readonly identity: Client<typeof IdentityServiceV1>;
  /** mercato.identity.v2.IdentityService: users with profile and preferences. */
  readonly identityV2: Client<typeof IdentityServiceV2>;
  /** mercato.catalog.v1.CatalogService: products, categories, reviews. */
  readonly catalog: Client<typeof CatalogService>;
  /** mercato.inventory.v1.InventoryService: stock levels (reservations are internal). */
  readonly inventory: Client<typeof InventoryService>;
  /** mercato.order.v1.OrderService: place, read and cancel orders. */
  readonly order: Client<typeof OrderService>;
  /** mercato.payment.v1.PaymentService: only GetPayment (admin) is exposed at the edge. */
  readonly payment: Client<typeof PaymentService>;
  /** mercato.shipping.v1.ShippingService: quotes and shipments. */
  readonly shipping: Client<typeof ShippingService>;
  /** mercato.notification.v1.NotificationService: a user's notifications. */
  readonly notification: Client<typeof NotificationService>;
}

function resolveToken(token: TokenSource): string | undefined {
  const value = typeof token === "function" ? token() : token;
  return value === undefined || value === "" ? undefined : value;
}

/**
 * An interceptor that sends `authorization: Bearer <token>` on every call, unless the call already
 * sets an authorization header or the token source yields nothing.
 */
export function bearerAuth(token: TokenSource): Interceptor {
  return (next) => (req) => {
    const value = resolveToken(token);
    if (value !== undefined && !req.header.has("authorization")) {
      req.header.set("authorization", `Bearer ${value}`);
    }
    return next(req);
  };
}

/**
 * Wraps a transport so that every call carries `authorization: Bearer <token>`, for transports built
 * elsewhere whose interceptors cannot be changed. A header given on the call itself wins.
 */
export function withBearerToken(transport: Transport, token: TokenSource): Transport {
  const withAuth = (header: Parameters<Transport["unary"]>[3]): Headers => {
    const headers = new Headers(header);
    const value = resolveToken(token);
    if (value !== undefined && !headers.has("authorization")) {
      headers.set("authorization", `Bearer ${value}`);
    }
    return headers;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.unary(method, signal, timeoutMs, withAuth(header), input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, timeoutMs, withAuth(header), input, contextValues),
  };
}

/** Creates one typed client per Mercato service, all sharing `transport`. */
export function createMercatoClients(transport: Transport): MercatoClient {
  return {
    identity: createClient(IdentityServiceV1, transport),
    identityV2: createClient(IdentityServiceV2, transport),
    catalog: createClient(CatalogService, transport),
    inventory: createClient(InventoryService, transport),
    order: createClient(OrderService, transport),
    payment: createClient(PaymentService, transport),
    shipping: createClient(ShippingService, transport),
    notification: createClient(NotificationService, transport),
  };
}
