import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  create,
  createFileRegistry,
  type DescMessage,
  type DescService,
  getOption,
  hasOption,
  toJson,
} from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  MethodOptions_IdempotencyLevel,
  TimestampSchema,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { createMercatoClient } from "./connect.js";
import {
  allFiles,
  catalogV1,
  commonV1,
  edgeRuleOf,
  identityV1,
  identityV2,
  inventoryV1,
  notificationV1,
  orderV1,
  services,
  shippingV1,
} from "./index.js";

const { Access, edge, RateLimitClass } = commonV1;
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");

/** The services of the shop's domains (the testing probe follows its own rules). */
const domainServices: DescService[] = services.filter((s) => !s.typeName.startsWith("mercato.testing."));

const P = Access.PUBLIC;
const U = Access.AUTHENTICATED;
const A = Access.ADMIN;
const I = Access.INTERNAL;

/**
 * Who may call each RPC at the edge, and which field names the owner. A new RPC fails this test until
 * its exposure is written down here, on purpose: exposing an RPC should be a reviewed decision.
 */
const expectedEdge: Record<string, [number, string?]> = {
  "mercato.identity.v1.IdentityService.Register": [P],
  "mercato.identity.v1.IdentityService.Login": [P],
  "mercato.identity.v1.IdentityService.RefreshToken": [P],
  "mercato.identity.v1.IdentityService.GetUser": [U, "user_id"],
  "mercato.identity.v1.IdentityService.ListUsers": [A],
  "mercato.identity.v1.IdentityService.UpdateUser": [U, "user_id"],
  "mercato.identity.v1.IdentityService.DeleteUser": [U, "user_id"],
  "mercato.identity.v1.IdentityService.GetUserAccess": [I],
  "mercato.identity.v1.IdentityService.GetJwks": [P],
  "mercato.identity.v2.IdentityService.GetUser": [U, "user_id"],
  "mercato.identity.v2.IdentityService.UpdateUser": [U, "user_id"],
  "mercato.catalog.v1.CatalogService.CreateProduct": [A],
  "mercato.catalog.v1.CatalogService.GetProduct": [P],
  "mercato.catalog.v1.CatalogService.ListProducts": [P],
  "mercato.catalog.v1.CatalogService.UpdateProduct": [A],
  "mercato.catalog.v1.CatalogService.DeleteProduct": [A],
  "mercato.catalog.v1.CatalogService.CreateCategory": [A],
  "mercato.catalog.v1.CatalogService.ListCategories": [P],
  "mercato.catalog.v1.CatalogService.AddReview": [U, "user_id"],
  "mercato.catalog.v1.CatalogService.ListReviews": [P],
  "mercato.inventory.v1.InventoryService.GetStock": [P],
  "mercato.inventory.v1.InventoryService.SetStock": [A],
  "mercato.inventory.v1.InventoryService.AdjustStock": [A],
  "mercato.inventory.v1.InventoryService.Reserve": [I],
  "mercato.inventory.v1.InventoryService.Restock": [I],
  "mercato.inventory.v1.InventoryService.Commit": [I],
  "mercato.inventory.v1.InventoryService.Release": [I],
  "mercato.order.v1.OrderService.PlaceOrder": [U, "user_id"],
  "mercato.order.v1.OrderService.GetOrder": [U],
  "mercato.order.v1.OrderService.ListOrders": [U, "user_id"],
  "mercato.order.v1.OrderService.CancelOrder": [U],
  "mercato.order.v1.OrderService.GetOrderHistory": [U],
  "mercato.order.v1.OrderService.GetOrderStatistics": [A],
  "mercato.order.v1.OrderService.ListAllOrders": [A],
  "mercato.order.v1.OrderService.GetSagaTimeline": [A],
  "mercato.order.v1.OrderService.ListDeadLetters": [A],
  "mercato.payment.v1.PaymentService.Authorize": [I],
  "mercato.payment.v1.PaymentService.Capture": [I],
  "mercato.payment.v1.PaymentService.Void": [I],
  "mercato.payment.v1.PaymentService.Refund": [I],
  "mercato.payment.v1.PaymentService.GetPayment": [A],
  "mercato.shipping.v1.ShippingService.QuoteShipping": [P],
  "mercato.shipping.v1.ShippingService.CreateShipment": [I],
  "mercato.shipping.v1.ShippingService.GetShipment": [U],
  "mercato.shipping.v1.ShippingService.AdvanceShipment": [A],
  "mercato.notification.v1.NotificationService.ListNotifications": [U, "user_id"],
  "mercato.notification.v1.NotificationService.RegisterWebhook": [U, "user_id"],
  "mercato.notification.v1.NotificationService.DeleteWebhook": [U, "user_id"],
  "mercato.notification.v1.NotificationService.ListWebhooks": [U, "user_id"],
  "mercato.testing.v1.ProbeService.Echo": [I],
  "mercato.testing.v1.ProbeService.Relay": [I],
};

describe("edge options", () => {
  const methods = services.flatMap((s) => s.methods);

  it.each(methods.map((m) => [`${m.parent.typeName}.${m.name}`, m] as const))(
    "%s declares an edge rule",
    (_, m) => {
      expect(hasOption(m, edge)).toBe(true);
      expect(getOption(m, edge).access).not.toBe(Access.UNSPECIFIED);
    },
  );

  it("assigns exactly the reviewed access and owner field to every RPC", () => {
    const actual = Object.fromEntries(
      methods.map((m) => {
        const rule = edgeRuleOf(m);
        return [
          `${m.parent.typeName}.${m.name}`,
          rule.ownerField === undefined ? [rule.access] : [rule.access, rule.ownerField],
        ];
      }),
    );
    expect(actual).toEqual(expectedEdge);
  });

  it("declares the rate-limit classes: strict for sign-in, loose for exposed reads, default otherwise", () => {
    const strict = new Set([
      "mercato.identity.v1.IdentityService.Register",
      "mercato.identity.v1.IdentityService.Login",
      "mercato.identity.v1.IdentityService.RefreshToken",
    ]);
    for (const m of methods) {
      const name = `${m.parent.typeName}.${m.name}`;
      const rule = edgeRuleOf(m);
      const read =
        m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS && rule.access !== Access.INTERNAL;
      const expected = strict.has(name)
        ? RateLimitClass.STRICT
        : read
          ? RateLimitClass.LOOSE
          : RateLimitClass.UNSPECIFIED;
      expect(getOption(m, edge).rateLimit, name).toBe(expected);
    }
  });

  it("names an owner field that is a top-level string field of the request", () => {
    for (const m of methods) {
      const { ownerField } = edgeRuleOf(m);
      if (ownerField === undefined) continue;
      const field = m.input.fields.find((f) => f.name === ownerField);
      expect(field, `${m.parent.typeName}.${m.name}`).toBeDefined();
      expect(field?.fieldKind === "scalar" && field.scalar === 9 /* STRING */).toBe(true);
    }
  });

  it("reads an absent option as INTERNAL", () => {
    const registry = createFileRegistry(
      create(FileDescriptorProtoSchema, {
        name: "x.proto",
        package: "x",
        syntax: "proto3",
        messageType: [{ name: "M" }],
        service: [{ name: "S", method: [{ name: "Do", inputType: ".x.M", outputType: ".x.M" }] }],
      }),
      () => undefined,
    );
    const method = registry.getService("x.S")?.methods[0];
    expect(method && edgeRuleOf(method)).toEqual({ access: Access.INTERNAL, ownerField: undefined });
  });
});

describe("idempotency levels", () => {
  it("marks exactly the Get*, List* and Quote* RPCs NO_SIDE_EFFECTS", () => {
    for (const s of domainServices) {
      for (const m of s.methods) {
        const isRead = /^(Get|List|Quote)[A-Z]/.test(m.name);
        const noSideEffects = m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
        expect(noSideEffects, `${s.typeName}.${m.name}`).toBe(isRead);
      }
    }
  });
});

describe("client-facing JSON shapes (docs/architecture.md)", () => {
  const money = { currencyCode: "EUR", amountMinor: "1999" };
  const moneyInit = create(commonV1.MoneySchema, { currencyCode: "EUR", amountMinor: 1999n });
  const address = {
    name: "Ada Lovelace",
    line1: "1 Analytical Way",
    line2: "Flat 2",
    city: "London",
    region: "Greater London",
    postalCode: "N1 9GU",
    countryCode: "GB",
  };

  it("Money", () => {
    expect(toJson(commonV1.MoneySchema, moneyInit)).toEqual(money);
  });

  it("identity v1 Register, Login, GetUser, User", () => {
    expect(
      toJson(
        identityV1.RegisterRequestSchema,
        create(identityV1.RegisterRequestSchema, { email: "a@b.c", password: "secret!!", name: "A" }),
      ),
    ).toEqual({ email: "a@b.c", password: "secret!!", name: "A" });
    expect(
      toJson(
        identityV1.LoginRequestSchema,
        create(identityV1.LoginRequestSchema, { email: "a@b.c", password: "p" }),
      ),
    ).toEqual({ email: "a@b.c", password: "p" });
    expect(
      toJson(
        identityV1.LoginResponseSchema,
        create(identityV1.LoginResponseSchema, { accessToken: "a", refreshToken: "r", expiresIn: 900 }),
      ),
    ).toEqual({ accessToken: "a", refreshToken: "r", expiresIn: 900 });
    expect(
      toJson(identityV1.GetUserRequestSchema, create(identityV1.GetUserRequestSchema, { userId: "u" })),
    ).toEqual({
      userId: "u",
    });
    const user = create(identityV1.UserSchema, {
      id: "u",
      email: "a@b.c",
      name: "A",
      role: identityV1.Role.ADMIN,
    });
    expect(
      toJson(identityV1.RegisterResponseSchema, create(identityV1.RegisterResponseSchema, { user })),
    ).toEqual({
      user: { id: "u", email: "a@b.c", name: "A", role: "ROLE_ADMIN" },
    });
    expect(
      toJson(identityV1.GetUserResponseSchema, create(identityV1.GetUserResponseSchema, { user })),
    ).toEqual({
      user: { id: "u", email: "a@b.c", name: "A", role: "ROLE_ADMIN" },
    });
  });

  it("identity v1 GetJwks answers a standard JWKS document", () => {
    const jwk = { kty: "EC", kid: "k1", use: "sig", alg: "ES256", crv: "P-256", x: "xx", y: "yy" };
    const res = create(identityV1.GetJwksResponseSchema, { keys: [jwk] });
    expect(toJson(identityV1.GetJwksResponseSchema, res)).toEqual({ keys: [jwk] });
  });

  it("identity v2 User with profile and preferences", () => {
    const user = create(identityV2.UserSchema, {
      id: "u",
      profile: { displayName: "Ada", avatarUrl: "https://x/a.png", bio: "hi" },
      preferences: { locale: "en-GB", marketingOptIn: true, currency: "GBP" },
    });
    expect(toJson(identityV2.UserSchema, user)).toEqual({
      id: "u",
      profile: { displayName: "Ada", avatarUrl: "https://x/a.png", bio: "hi" },
      preferences: { locale: "en-GB", marketingOptIn: true, currency: "GBP" },
    });
  });

  it("catalog ListProducts and Product", () => {
    expect(
      toJson(
        catalogV1.ListProductsRequestSchema,
        create(catalogV1.ListProductsRequestSchema, {
          pageSize: 10,
          pageToken: "t",
          categoryId: "c",
          query: "mug",
        }),
      ),
    ).toEqual({ pageSize: 10, pageToken: "t", categoryId: "c", query: "mug" });
    const product = create(catalogV1.ProductSchema, {
      id: "p",
      sku: "MUG-1",
      name: "Mug",
      description: "A mug",
      price: moneyInit,
      categoryId: "c",
    });
    const json = { id: "p", sku: "MUG-1", name: "Mug", description: "A mug", price: money, categoryId: "c" };
    expect(toJson(catalogV1.ProductSchema, product)).toEqual(json);
    expect(
      toJson(
        catalogV1.ListProductsResponseSchema,
        create(catalogV1.ListProductsResponseSchema, { products: [product], nextPageToken: "n" }),
      ),
    ).toEqual({ products: [json], nextPageToken: "n" });
  });

  it("inventory GetStock and SetStock", () => {
    expect(
      toJson(inventoryV1.GetStockRequestSchema, create(inventoryV1.GetStockRequestSchema, { sku: "S" })),
    ).toEqual({
      sku: "S",
    });
    expect(
      toJson(
        inventoryV1.GetStockResponseSchema,
        create(inventoryV1.GetStockResponseSchema, { sku: "S", onHand: 5, reserved: 2, available: 3 }),
      ),
    ).toEqual({ sku: "S", onHand: 5, reserved: 2, available: 3 });
    expect(
      toJson(
        inventoryV1.SetStockRequestSchema,
        create(inventoryV1.SetStockRequestSchema, { sku: "S", onHand: 5 }),
      ),
    ).toEqual({ sku: "S", onHand: 5 });
  });

  it("order PlaceOrder, GetOrder, Order and its status values", () => {
    expect(
      toJson(
        orderV1.PlaceOrderRequestSchema,
        create(orderV1.PlaceOrderRequestSchema, {
          idempotencyKey: "k",
          lines: [{ productId: "p", quantity: 2 }],
          paymentToken: "tok_visa",
          shippingAddress: address,
        }),
      ),
    ).toEqual({
      idempotencyKey: "k",
      lines: [{ productId: "p", quantity: 2 }],
      paymentToken: "tok_visa",
      shippingAddress: address,
    });
    expect(
      toJson(orderV1.GetOrderRequestSchema, create(orderV1.GetOrderRequestSchema, { orderId: "o" })),
    ).toEqual({
      orderId: "o",
    });
    const order = create(orderV1.OrderSchema, {
      id: "o",
      userId: "u",
      status: orderV1.OrderStatus.CANCELLED,
      lines: [{ productId: "p", quantity: 1 }],
      total: moneyInit,
      cancelReason: "payment declined",
      saga: { step: orderV1.SagaStep.RELEASE_STOCK, state: orderV1.SagaState.COMPENSATED },
    });
    expect(toJson(orderV1.GetOrderResponseSchema, create(orderV1.GetOrderResponseSchema, { order }))).toEqual(
      {
        order: {
          id: "o",
          userId: "u",
          status: "ORDER_STATUS_CANCELLED",
          lines: [{ productId: "p", quantity: 1 }],
          total: money,
          cancelReason: "payment declined",
          saga: { step: "SAGA_STEP_RELEASE_STOCK", state: "SAGA_STATE_COMPENSATED" },
        },
      },
    );
    expect(orderV1.OrderStatusSchema.values.map((v) => v.name)).toEqual([
      "ORDER_STATUS_UNSPECIFIED",
      "ORDER_STATUS_PENDING",
      "ORDER_STATUS_CONFIRMED",
      "ORDER_STATUS_CANCELLED",
      "ORDER_STATUS_SHIPPED",
      "ORDER_STATUS_DELIVERED",
    ]);
  });

  it("shipping GetShipment, Shipment, AdvanceShipment", () => {
    expect(
      toJson(
        shippingV1.GetShipmentRequestSchema,
        create(shippingV1.GetShipmentRequestSchema, { orderId: "o" }),
      ),
    ).toEqual({ orderId: "o" });
    const shipment = create(shippingV1.ShipmentSchema, {
      id: "s",
      orderId: "o",
      status: shippingV1.ShipmentStatus.LABEL_CREATED,
      trackingNumber: "T1",
    });
    expect(toJson(shippingV1.ShipmentSchema, shipment)).toEqual({
      id: "s",
      orderId: "o",
      status: "SHIPMENT_STATUS_LABEL_CREATED",
      trackingNumber: "T1",
    });
    expect(
      toJson(
        shippingV1.AdvanceShipmentRequestSchema,
        create(shippingV1.AdvanceShipmentRequestSchema, { shipmentId: "s" }),
      ),
    ).toEqual({ shipmentId: "s" });
    expect(shippingV1.ShipmentStatusSchema.values.map((v) => v.name)).toEqual([
      "SHIPMENT_STATUS_UNSPECIFIED",
      "SHIPMENT_STATUS_LABEL_CREATED",
      "SHIPMENT_STATUS_SHIPPED",
      "SHIPMENT_STATUS_DELIVERED",
      "SHIPMENT_STATUS_CANCELLED",
    ]);
  });

  it("notification ListNotifications and Notification", () => {
    expect(
      toJson(
        notificationV1.ListNotificationsRequestSchema,
        create(notificationV1.ListNotificationsRequestSchema, { userId: "u", pageSize: 5, pageToken: "t" }),
      ),
    ).toEqual({ userId: "u", pageSize: 5, pageToken: "t" });
    const n = create(notificationV1.NotificationSchema, {
      id: "n",
      userId: "u",
      eventType: "mercato.order.v1.OrderConfirmed",
      channel: notificationV1.NotificationChannel.LOG,
      status: notificationV1.NotificationStatus.SENT,
      createdAt: create(TimestampSchema, { seconds: 0n }),
    });
    expect(
      toJson(
        notificationV1.ListNotificationsResponseSchema,
        create(notificationV1.ListNotificationsResponseSchema, { notifications: [n], nextPageToken: "x" }),
      ),
    ).toEqual({
      notifications: [
        {
          id: "n",
          userId: "u",
          eventType: "mercato.order.v1.OrderConfirmed",
          channel: "NOTIFICATION_CHANNEL_LOG",
          status: "NOTIFICATION_STATUS_SENT",
          createdAt: "1970-01-01T00:00:00Z",
        },
      ],
      nextPageToken: "x",
    });
  });
});

describe("events", () => {
  const expected: Record<string, string[]> = {
    "mercato.identity.v1": ["UserRegistered", "UserDeleted", "UserAccessChanged"],
    "mercato.catalog.v1": ["ProductCreated", "PriceChanged"],
    "mercato.inventory.v1": ["StockReserved", "StockReleased", "StockLow"],
    "mercato.order.v1": ["OrderPlaced", "OrderConfirmed", "OrderCancelled", "OrderShipped", "OrderDelivered"],
    "mercato.payment.v1": ["PaymentAuthorized", "PaymentFailed", "PaymentRefunded"],
    "mercato.shipping.v1": ["ShipmentCreated", "ShipmentShipped", "ShipmentDelivered"],
    "mercato.notification.v1": ["NotificationSent"],
  };
  const eventFiles = allFiles.filter((f) => f.name.endsWith("/events"));

  it("each domain's events.proto declares its events", () => {
    const declared = Object.fromEntries(
      eventFiles.map((f) => [
        f.proto.package,
        f.messages.filter((m) => m.fields.some((x) => x.name === "event_id")).map((m) => m.name),
      ]),
    );
    expect(declared).toEqual(expected);
  });

  it("every event has event_id, occurred_at (Timestamp) and an aggregate id", () => {
    const events: DescMessage[] = eventFiles.flatMap((f) =>
      f.messages.filter((m) => Object.values(expected).flat().includes(m.name)),
    );
    expect(events).toHaveLength(Object.values(expected).flat().length);
    for (const m of events) {
      const [id, at, aggregate] = m.fields;
      expect([id?.name, id?.fieldKind === "scalar" && id.scalar], m.typeName).toEqual(["event_id", 9]);
      expect([at?.name, at?.message?.typeName], m.typeName).toEqual([
        "occurred_at",
        "google.protobuf.Timestamp",
      ]);
      expect(aggregate?.name, m.typeName).toMatch(/_id$|^sku$/);
    }
  });
});

describe("SDK surface", () => {
  it("allFiles lists every generated file", () => {
    const genDir = join(here, "gen");
    const onDisk = (readdirSync(genDir, { recursive: true }) as string[])
      .filter((p) => p.endsWith("_pb.ts"))
      .map((p) => relative(genDir, join(genDir, p)).replace(/_pb\.ts$/, ""))
      .sort();
    expect(allFiles.map((f) => f.name).sort()).toEqual(onDisk);
  });

  it("services lists every service of every file", () => {
    const declared = allFiles.flatMap((f) => f.services.map((s) => s.typeName)).sort();
    expect(services.map((s) => s.typeName).sort()).toEqual(declared);
  });

  it("sends the bearer token and speaks Connect JSON over HTTP/1.1", async () => {
    const seen: {
      path?: string | undefined;
      authorization?: string | undefined;
      contentType?: string | undefined;
    } = {};
    const server = createServer((req, res) => {
      seen.path = req.url;
      seen.authorization = req.headers.authorization;
      seen.contentType = req.headers["content-type"];
      req.resume().on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: [{ kty: "OKP", kid: "k1", crv: "Ed25519", x: "abc" }] }));
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    try {
      const { port } = server.address() as AddressInfo;
      let token: string | undefined = "t0";
      const client = createMercatoClient(`http://127.0.0.1:${port}`, { token: () => token });
      const res = await client.identity.getJwks({});
      expect(res.keys[0]?.kid).toBe("k1");
      expect(seen).toEqual({
        path: "/mercato.identity.v1.IdentityService/GetJwks",
        authorization: "Bearer t0",
        contentType: "application/json",
      });
      token = undefined;
      await client.identity.getJwks({});
      expect(seen.authorization).toBeUndefined();
    } finally {
      await new Promise((done) => server.close(done));
    }
  });

  it("createMercatoClient builds one typed client per exposed service", () => {
    const client = createMercatoClient("http://127.0.0.1:1", { token: () => "t" });
    expect(Object.keys(client).sort()).toEqual(
      [
        "catalog",
        "identity",
        "identityV2",
        "inventory",
        "notification",
        "order",
        "payment",
        "shipping",
      ].sort(),
    );
    expect(typeof client.catalog.listProducts).toBe("function");
    expect(typeof client.identityV2.updateUser).toBe("function");
  });
});

// protoc-gen-es embeds descriptors without source info, so comments are read from a buf image.
describe("doc comments", () => {
  interface Location {
    path?: number[];
    leadingComments?: string;
  }
  interface Named {
    name: string;
  }
  interface FieldProto extends Named {
    oneofIndex?: number;
    proto3Optional?: boolean;
  }
  interface MessageProto extends Named {
    field?: FieldProto[];
    nestedType?: MessageProto[];
    enumType?: EnumProto[];
    oneofDecl?: Named[];
  }
  interface EnumProto extends Named {
    value?: Named[];
  }
  interface FileProto extends Named {
    package: string;
    messageType?: MessageProto[];
    enumType?: EnumProto[];
    service?: (Named & { method?: Named[] })[];
    extension?: Named[];
    sourceCodeInfo?: { location?: Location[] };
  }

  const image = JSON.parse(
    execFileSync("pnpm", ["exec", "buf", "build", "-o", "-#format=json"], {
      cwd: repoRoot,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    }),
  ) as { file: FileProto[] };
  const files = image.file.filter((f) => f.name.startsWith("mercato/"));

  /** Every element that needs a comment, as [description, source path]. */
  function elements(file: FileProto): [string, number[]][] {
    const out: [string, number[]][] = [];
    const enumEls = (e: EnumProto, path: number[], scope: string) => {
      out.push([`enum ${scope}${e.name}`, path]);
      e.value?.forEach((v, i) => {
        out.push([`enum value ${scope}${e.name}.${v.name}`, [...path, 2, i]]);
      });
    };
    const messageEls = (m: MessageProto, path: number[], scope: string) => {
      const name = `${scope}${m.name}`;
      out.push([`message ${name}`, path]);
      m.field?.forEach((f, i) => {
        out.push([`field ${name}.${f.name}`, [...path, 2, i]]);
      });
      // proto3 `optional` fields get a synthetic oneof each, which has no source of its own.
      const synthetic = new Set(m.field?.filter((f) => f.proto3Optional).map((f) => f.oneofIndex));
      m.oneofDecl?.forEach((o, i) => {
        if (!synthetic.has(i)) out.push([`oneof ${name}.${o.name}`, [...path, 8, i]]);
      });
      m.nestedType?.forEach((n, i) => {
        messageEls(n, [...path, 3, i], `${name}.`);
      });
      m.enumType?.forEach((e, i) => {
        enumEls(e, [...path, 4, i], `${name}.`);
      });
    };
    file.messageType?.forEach((m, i) => {
      messageEls(m, [4, i], "");
    });
    file.enumType?.forEach((e, i) => {
      enumEls(e, [5, i], "");
    });
    file.service?.forEach((s, i) => {
      out.push([`service ${s.name}`, [6, i]]);
      s.method?.forEach((m, j) => {
        out.push([`rpc ${s.name}.${m.name}`, [6, i, 2, j]]);
      });
    });
    file.extension?.forEach((x, i) => {
      out.push([`extension ${x.name}`, [7, i]]);
    });
    return out;
  }

  it("finds the contracts in the buf image", () => {
    expect(files.map((f) => f.name).sort()).toEqual(allFiles.map((f) => `${f.name}.proto`).sort());
  });

  it.each(files.map((f) => [f.name, f] as const))("%s documents every element", (_, file) => {
    const comments = new Map(
      (file.sourceCodeInfo?.location ?? []).map((l) => [
        (l.path ?? []).join("."),
        l.leadingComments?.trim() ?? "",
      ]),
    );
    const missing = elements(file)
      .filter(([, path]) => (comments.get(path.join(".")) ?? "") === "")
      .map(([what]) => what);
    expect(missing).toEqual([]);
  });
});
