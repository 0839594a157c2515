import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * Categories form a tree through `parent_id`. Names are unique among siblings, case-insensitively
 * (top-level categories count as siblings of each other).
 */
export const categories = pgTable(
  "categories",
  {
    id: uuid().primaryKey(),
    name: text().notNull(),
    parentId: uuid().references((): AnyPgColumn => categories.id),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("categories_sibling_name_idx").on(
      sql`coalesce(${t.parentId}, '00000000-0000-0000-0000-000000000000'::uuid)`,
      sql`lower(${t.name})`,
    ),
    index("categories_name_idx").on(sql`lower(${t.name})`, t.id),
  ],
);

/**
 * Products. The id is a UUIDv7, so ordering by id is ordering by creation ("newest first" pages on
 * it). `rating_sum`/`review_count` are kept in the transaction that adds a review and
 * `average_rating` is derived from them there, so listing by rating needs no aggregation.
 */
export const products = pgTable(
  "products",
  {
    id: uuid().primaryKey(),
    sku: text().notNull().unique(),
    name: text().notNull(),
    description: text().notNull().default(""),
    priceMinor: bigint({ mode: "bigint" }).notNull(),
    currencyCode: text().notNull(),
    categoryId: uuid().references(() => categories.id),
    active: boolean().notNull().default(true),
    ratingSum: integer().notNull().default(0),
    reviewCount: integer().notNull().default(0),
    averageRating: doublePrecision().notNull().default(0),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("products_price_positive", sql`${t.priceMinor} > 0`),
    check("products_currency_code", sql`${t.currencyCode} ~ '^[A-Z]{3}$'`),
    check("products_review_count", sql`${t.reviewCount} >= 0`),
    // Keyset pagination indexes, one per sort order, over the listed (active) products.
    index("products_active_id_idx").on(t.id).where(sql`${t.active}`),
    index("products_active_name_idx").on(sql`lower(${t.name})`, t.id).where(sql`${t.active}`),
    index("products_active_price_idx").on(t.priceMinor, t.id).where(sql`${t.active}`),
    index("products_active_rating_idx").on(t.averageRating, t.id).where(sql`${t.active}`),
    index("products_category_idx").on(t.categoryId, t.id),
  ],
);

/** Reviews: one per user and product. */
export const reviews = pgTable(
  "reviews",
  {
    id: uuid().primaryKey(),
    productId: uuid()
      .notNull()
      .references(() => products.id),
    userId: text().notNull(),
    rating: smallint().notNull(),
    comment: text().notNull().default(""),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("reviews_rating_range", sql`${t.rating} between 1 and 5`),
    uniqueIndex("reviews_product_user_idx").on(t.productId, t.userId),
    index("reviews_product_id_idx").on(t.productId, t.id),
  ],
);

export const schema = { categories, products, reviews };
export type CatalogSchema = typeof schema;
export type ProductRow = typeof products.$inferSelect;
export type CategoryRow = typeof categories.$inferSelect;
export type ReviewRow = typeof reviews.$inferSelect;
