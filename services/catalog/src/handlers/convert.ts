/** Row → protobuf message conversions. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  CategorySchema,
  ProductSchema,
  ReviewSchema,
} from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import type { CategoryRow, ProductRow, ReviewRow } from "../db/schema.js";

export function productMessage(row: ProductRow): MessageInitShape<typeof ProductSchema> {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    price: { currencyCode: row.currencyCode, amountMinor: row.priceMinor },
    categoryId: row.categoryId ?? "",
    active: row.active,
    averageRating: row.averageRating,
    reviewCount: row.reviewCount,
    createdAt: timestampFromDate(row.createdAt),
    updatedAt: timestampFromDate(row.updatedAt),
  };
}

export function categoryMessage(row: CategoryRow): MessageInitShape<typeof CategorySchema> {
  return { id: row.id, name: row.name, parentId: row.parentId ?? "" };
}

export function reviewMessage(row: ReviewRow): MessageInitShape<typeof ReviewSchema> {
  return {
    id: row.id,
    productId: row.productId,
    userId: row.userId,
    rating: row.rating,
    comment: row.comment,
    createdAt: timestampFromDate(row.createdAt),
  };
}
