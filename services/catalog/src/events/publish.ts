/** Catalog event publishers: each writes its event to the outbox in the caller's transaction. */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { SqlExecutor } from "@mercato/platform/db";
import { enqueueEvent, eventPayload } from "@mercato/platform/events";
import { PriceChangedSchema, ProductCreatedSchema } from "@mercato/sdk/gen/mercato/catalog/v1/events_pb";
import { MoneySchema } from "@mercato/sdk/gen/mercato/common/v1/money_pb";
import { uuidv7 } from "uuidv7";
import type { ProductRow } from "../db/schema.js";
import type { Price } from "../domain/rules.js";

export const PRODUCT_CREATED_SUBJECT = "mercato.catalog.product_created";
export const PRICE_CHANGED_SUBJECT = "mercato.catalog.price_changed";

const money = (price: Price) =>
  create(MoneySchema, { currencyCode: price.currencyCode, amountMinor: price.amountMinor });

/** Enqueues ProductCreated for a new product. */
export async function productCreated(tx: SqlExecutor, product: ProductRow): Promise<void> {
  const eventId = uuidv7();
  const event = create(ProductCreatedSchema, {
    eventId,
    occurredAt: timestampNow(),
    productId: product.id,
    sku: product.sku,
    name: product.name,
    price: money({ currencyCode: product.currencyCode, amountMinor: product.priceMinor }),
    categoryId: product.categoryId ?? "",
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: PRODUCT_CREATED_SUBJECT,
    aggregateId: product.id,
    ...eventPayload(ProductCreatedSchema, event),
  });
}

/** Enqueues PriceChanged for a product whose price went from `before` to `after`. */
export async function priceChanged(
  tx: SqlExecutor,
  product: ProductRow,
  before: Price,
  after: Price,
): Promise<void> {
  const eventId = uuidv7();
  const event = create(PriceChangedSchema, {
    eventId,
    occurredAt: timestampNow(),
    productId: product.id,
    sku: product.sku,
    oldPrice: money(before),
    newPrice: money(after),
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: PRICE_CHANGED_SUBJECT,
    aggregateId: product.id,
    ...eventPayload(PriceChangedSchema, event),
  });
}
