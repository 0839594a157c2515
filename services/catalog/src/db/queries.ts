/** Catalog queries. Functions that must join a caller's transaction take an executor (`db` or `tx`). */

import type { SqlExecutor } from "@mercato/platform/db";
import { ProductSort } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { and, asc, desc, eq, type SQL, sql } from "drizzle-orm";
import type { KeyValue } from "../domain/paging.js";
import { likePattern } from "../domain/rules.js";
import {
  type CategoryRow,
  categories,
  type ProductRow,
  products,
  type ReviewRow,
  reviews,
} from "./schema.js";

/** How one product sort order pages: the token key's shape, the key of a row, the SQL order. */
interface SortPlan {
  readonly shape: readonly ("s" | "n" | "i")[];
  readonly descending: boolean;
  /** SQL expressions of the key, in order. */
  readonly columns: readonly SQL[];
  /** SQL casts for the token's values, in order. */
  readonly casts: readonly string[];
}

const sortPlans: Record<ProductSort, SortPlan> = {
  [ProductSort.UNSPECIFIED]: {
    shape: ["s"],
    descending: true,
    columns: [sql`${products.id}`],
    casts: ["uuid"],
  },
  [ProductSort.NEWEST]: { shape: ["s"], descending: true, columns: [sql`${products.id}`], casts: ["uuid"] },
  [ProductSort.NAME_ASC]: {
    shape: ["s", "s"],
    descending: false,
    columns: [sql`lower(${products.name})`, sql`${products.id}`],
    casts: ["text", "uuid"],
  },
  [ProductSort.PRICE_ASC]: {
    shape: ["i", "s"],
    descending: false,
    columns: [sql`${products.priceMinor}`, sql`${products.id}`],
    casts: ["bigint", "uuid"],
  },
  [ProductSort.PRICE_DESC]: {
    shape: ["i", "s"],
    descending: true,
    columns: [sql`${products.priceMinor}`, sql`${products.id}`],
    casts: ["bigint", "uuid"],
  },
  [ProductSort.RATING_DESC]: {
    shape: ["n", "s"],
    descending: true,
    columns: [sql`${products.averageRating}`, sql`${products.id}`],
    casts: ["float8", "uuid"],
  },
};

/** The token key shape of a sort order. */
export function sortShape(sort: ProductSort): readonly ("s" | "n" | "i")[] {
  return sortPlans[sort].shape;
}

/** The sort key of a product row for `sort`, as stored in a page token. */
export function productSortKey(sort: ProductSort, row: ProductRow & { nameKey: string }): KeyValue[] {
  switch (sort) {
    case ProductSort.NAME_ASC:
      return [row.nameKey, row.id];
    case ProductSort.PRICE_ASC:
    case ProductSort.PRICE_DESC:
      return [row.priceMinor.toString(), row.id];
    case ProductSort.RATING_DESC:
      return [row.averageRating, row.id];
    default:
      return [row.id];
  }
}

/** Whether `sort` is a known sort order. */
export function isKnownSort(sort: number): sort is ProductSort {
  return sort in sortPlans;
}

function keysetCondition(plan: SortPlan, after: readonly KeyValue[]): SQL {
  const left = sql.join([...plan.columns], sql`, `);
  const right = sql.join(
    after.map((value, i) => sql`${value}::${sql.raw(plan.casts[i] ?? "text")}`),
    sql`, `,
  );
  return plan.descending ? sql`(${left}) < (${right})` : sql`(${left}) > (${right})`;
}

export interface ListProductsQuery {
  readonly sort: ProductSort;
  readonly categoryId?: string | undefined;
  readonly query?: string | undefined;
  readonly after?: readonly KeyValue[] | undefined;
  readonly limit: number;
}

/** One page of active products (at most `limit` rows) after the `after` key, in `sort` order. */
export async function listProducts(
  db: SqlExecutor,
  q: ListProductsQuery,
): Promise<(ProductRow & { nameKey: string })[]> {
  const plan = sortPlans[q.sort];
  const conditions: SQL[] = [sql`${products.active}`];
  if (q.categoryId) conditions.push(eq(products.categoryId, q.categoryId));
  if (q.query) {
    const pattern = likePattern(q.query);
    conditions.push(
      sql`(${products.name} ilike ${pattern} or ${products.description} ilike ${pattern} or ${products.sku} ilike ${pattern})`,
    );
  }
  if (q.after) conditions.push(keysetCondition(plan, q.after));
  const order = plan.columns.map((c) => (plan.descending ? sql`${c} desc` : sql`${c} asc`));
  const rows = await db
    .select({ product: products, nameKey: sql<string>`lower(${products.name})` })
    .from(products)
    .where(and(...conditions))
    .orderBy(...order)
    .limit(q.limit);
  return rows.map((r) => ({ ...(r.product as ProductRow), nameKey: r.nameKey }));
}

/** A product by id, optionally locked for the rest of the transaction. */
export async function findProduct(
  db: SqlExecutor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<ProductRow | undefined> {
  const query = db.select().from(products).where(eq(products.id, id));
  const rows = options.forUpdate ? await query.for("update") : await query;
  return rows[0] as ProductRow | undefined;
}

/** Inserts a product; a duplicate SKU throws a unique violation on `products_sku_unique`. */
export async function insertProduct(db: SqlExecutor, row: typeof products.$inferInsert): Promise<ProductRow> {
  const [inserted] = await db.insert(products).values(row).returning();
  return inserted as ProductRow;
}

/** Applies `patch` to a product and returns it. */
export async function updateProductRow(
  db: SqlExecutor,
  id: string,
  patch: Partial<typeof products.$inferInsert>,
): Promise<ProductRow> {
  const [updated] = await db
    .update(products)
    .set({ ...patch, updatedAt: sql`now()` })
    .where(eq(products.id, id))
    .returning();
  return updated as ProductRow;
}

/** Adds one rating to a product's review count, sum and average, atomically; returns the product. */
export async function addRating(db: SqlExecutor, productId: string, rating: number): Promise<ProductRow> {
  const [updated] = await db
    .update(products)
    .set({
      ratingSum: sql`${products.ratingSum} + ${rating}`,
      reviewCount: sql`${products.reviewCount} + 1`,
      averageRating: sql`(${products.ratingSum} + ${rating})::float8 / (${products.reviewCount} + 1)`,
    })
    .where(eq(products.id, productId))
    .returning();
  return updated as ProductRow;
}

/** Whether a category exists (takes a share lock so it cannot vanish before the caller commits). */
export async function categoryExists(db: SqlExecutor, id: string): Promise<boolean> {
  const rows = await db
    .select({ id: categories.id })
    .from(categories)
    .where(eq(categories.id, id))
    .for("share");
  return rows.length > 0;
}

/** Inserts a category; a sibling with the same name throws a unique violation. */
export async function insertCategory(
  db: SqlExecutor,
  row: typeof categories.$inferInsert,
): Promise<CategoryRow> {
  const [inserted] = await db.insert(categories).values(row).returning();
  return inserted as CategoryRow;
}

/** One page of categories by name (case-insensitive), then id. */
export async function listCategories(
  db: SqlExecutor,
  q: { after?: readonly KeyValue[] | undefined; limit: number },
): Promise<(CategoryRow & { nameKey: string })[]> {
  const nameKey = sql`lower(${categories.name})`;
  const rows = await db
    .select({ category: categories, nameKey: sql<string>`lower(${categories.name})` })
    .from(categories)
    .where(
      q.after ? sql`(${nameKey}, ${categories.id}) > (${q.after[0]}::text, ${q.after[1]}::uuid)` : undefined,
    )
    .orderBy(asc(nameKey), asc(categories.id))
    .limit(q.limit);
  return rows.map((r) => ({ ...(r.category as CategoryRow), nameKey: r.nameKey }));
}

/** Inserts a review unless the user has reviewed the product already (then undefined). */
export async function insertReview(
  db: SqlExecutor,
  row: typeof reviews.$inferInsert,
): Promise<ReviewRow | undefined> {
  const [inserted] = await db.insert(reviews).values(row).onConflictDoNothing().returning();
  return inserted as ReviewRow | undefined;
}

/** One page of a product's reviews, newest first (ids are UUIDv7). */
export async function listReviews(
  db: SqlExecutor,
  q: { productId: string; after?: string | undefined; limit: number },
): Promise<ReviewRow[]> {
  const conditions: SQL[] = [eq(reviews.productId, q.productId)];
  if (q.after) conditions.push(sql`${reviews.id} < ${q.after}::uuid`);
  return (await db
    .select()
    .from(reviews)
    .where(and(...conditions))
    .orderBy(desc(reviews.id))
    .limit(q.limit)) as ReviewRow[];
}
