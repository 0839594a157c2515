/**
 * CatalogService handlers: validate → domain rules → db and events in one transaction.
 *
 * Writes to products and categories are for admins: the gateway enforces the contract's access
 * option, and every write handler checks `ctx.role` again (defence in depth).
 */
import type { Database } from "@mercato/platform/db";
import { foreignKeyViolation, uniqueViolation } from "@mercato/platform/db";
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  unauthenticated,
} from "@mercato/platform/errors";
import type { HandlerContext, ServiceHandlers } from "@mercato/platform/grpc";
import { type CatalogService, ProductSort } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { uuidv7 } from "uuidv7";
import {
  addRating,
  categoryExists,
  findProduct,
  insertCategory,
  insertProduct,
  insertReview,
  isKnownSort,
  listCategories,
  listProducts,
  listReviews,
  productSortKey,
  sortShape,
  updateProductRow,
} from "../db/queries.js";
import type { CatalogSchema, products } from "../db/schema.js";
import { decodePageToken, encodePageToken, listingFingerprint } from "../domain/paging.js";
import {
  checkCategoryName,
  checkDescription,
  checkId,
  checkOptionalId,
  checkPrice,
  checkProductName,
  checkReview,
  checkSku,
  type Price,
  pageSize,
  priceChanged,
  type Violation,
} from "../domain/rules.js";
import { productCreated, priceChanged as publishPriceChanged } from "../events/publish.js";
import { categoryMessage, productMessage, reviewMessage } from "./convert.js";

export interface CatalogHandlerDeps {
  readonly database: Database<CatalogSchema>;
}

const QUERY_MAX = 200;

function requireAdmin(ctx: HandlerContext): void {
  if (ctx.role !== "admin") throw permissionDenied("only admins may change the catalog");
}

function rejectIfAny(problems: readonly Violation[]): void {
  if (problems.length > 0) throw invalidArgument(problems);
}

const unknownCategory = (field: string) => invalidArgument([{ field, description: "no such category" }]);

const invalidToken = () =>
  invalidArgument([
    { field: "page_token", description: "is invalid, or belongs to a listing with other parameters" },
  ]);

function toPrice(money: { currencyCode: string; amountMinor: bigint } | undefined): Price | undefined {
  return money === undefined
    ? undefined
    : { currencyCode: money.currencyCode, amountMinor: money.amountMinor };
}

export function createCatalogHandlers({
  database,
}: CatalogHandlerDeps): ServiceHandlers<typeof CatalogService> {
  return {
    async createProduct(request, ctx) {
      requireAdmin(ctx);
      const price = toPrice(request.price);
      rejectIfAny([
        ...checkSku(request.sku),
        ...checkProductName(request.name),
        ...checkDescription(request.description),
        ...checkPrice(price),
        ...checkOptionalId(request.categoryId, "category_id"),
      ]);
      const validPrice = price as Price;
      try {
        const product = await database.transaction(async (tx) => {
          if (request.categoryId !== "" && !(await categoryExists(tx, request.categoryId)))
            throw unknownCategory("category_id");
          const row = await insertProduct(tx, {
            id: uuidv7(),
            sku: request.sku,
            name: request.name.trim(),
            description: request.description,
            priceMinor: validPrice.amountMinor,
            currencyCode: validPrice.currencyCode,
            categoryId: request.categoryId === "" ? null : request.categoryId,
            active: request.active ?? true,
          });
          await productCreated(tx, row);
          return row;
        });
        return { product: productMessage(product) };
      } catch (error) {
        if (uniqueViolation(error) === "products_sku_unique")
          throw alreadyExists(`a product with SKU ${request.sku} exists already`, error);
        if (foreignKeyViolation(error) !== undefined) throw unknownCategory("category_id");
        throw error;
      }
    },

    async getProduct(request) {
      rejectIfAny(checkId(request.productId, "product_id"));
      const row = await findProduct(database.db, request.productId);
      if (!row) throw notFound(`product ${request.productId} not found`);
      return { product: productMessage(row) };
    },

    async listProducts(request) {
      const { size, problems } = pageSize(request.pageSize);
      const sortProblems: Violation[] = isKnownSort(request.sort)
        ? []
        : [{ field: "sort", description: "is not a known sort order" }];
      const query = request.query.trim();
      rejectIfAny([
        ...problems,
        ...sortProblems,
        ...checkOptionalId(request.categoryId, "category_id"),
        ...([...query].length > QUERY_MAX
          ? [{ field: "query", description: `must be at most ${QUERY_MAX} characters` }]
          : []),
      ]);
      const sort = request.sort === ProductSort.UNSPECIFIED ? ProductSort.NEWEST : request.sort;
      const fingerprint = listingFingerprint(["products", sort, request.categoryId, query]);
      let after: ReturnType<typeof decodePageToken>;
      if (request.pageToken !== "") {
        after = decodePageToken(request.pageToken, fingerprint, sortShape(sort));
        if (!after) throw invalidToken();
      }
      const rows = await listProducts(database.db, {
        sort,
        categoryId: request.categoryId || undefined,
        query: query || undefined,
        after,
        limit: size + 1,
      });
      const page = rows.slice(0, size);
      const last = page.at(-1);
      return {
        products: page.map(productMessage),
        nextPageToken:
          rows.length > size && last ? encodePageToken(fingerprint, productSortKey(sort, last)) : "",
      };
    },

    async updateProduct(request, ctx) {
      requireAdmin(ctx);
      const price = toPrice(request.price);
      rejectIfAny([
        ...checkId(request.productId, "product_id"),
        ...(request.name !== undefined ? checkProductName(request.name) : []),
        ...(request.description !== undefined ? checkDescription(request.description) : []),
        ...(price !== undefined ? checkPrice(price) : []),
        ...(request.categoryId !== undefined ? checkOptionalId(request.categoryId, "category_id") : []),
      ]);
      try {
        const product = await database.transaction(async (tx) => {
          const current = await findProduct(tx, request.productId, { forUpdate: true });
          if (!current) throw notFound(`product ${request.productId} not found`);
          const patch: Partial<typeof products.$inferInsert> = {};
          if (request.name !== undefined) patch.name = request.name.trim();
          if (request.description !== undefined) patch.description = request.description;
          if (request.categoryId !== undefined) {
            if (request.categoryId !== "" && !(await categoryExists(tx, request.categoryId)))
              throw unknownCategory("category_id");
            patch.categoryId = request.categoryId === "" ? null : request.categoryId;
          }
          if (request.active !== undefined) patch.active = request.active;
          const before: Price = { currencyCode: current.currencyCode, amountMinor: current.priceMinor };
          const repriced = price !== undefined && priceChanged(before, price);
          if (repriced) {
            patch.priceMinor = price.amountMinor;
            patch.currencyCode = price.currencyCode;
          }
          if (Object.keys(patch).length === 0) return current;
          const updated = await updateProductRow(tx, current.id, patch);
          if (repriced) await publishPriceChanged(tx, updated, before, price);
          return updated;
        });
        return { product: productMessage(product) };
      } catch (error) {
        if (foreignKeyViolation(error) !== undefined) throw unknownCategory("category_id");
        throw error;
      }
    },

    // Deleting deactivates: the product leaves listings and cannot be ordered, but GetProduct still
    // answers for it, so past orders keep showing what they contained and reviews keep their product.
    // Deleting a deleted product succeeds again (idempotent).
    async deleteProduct(request, ctx) {
      requireAdmin(ctx);
      rejectIfAny(checkId(request.productId, "product_id"));
      await database.transaction(async (tx) => {
        const current = await findProduct(tx, request.productId, { forUpdate: true });
        if (!current) throw notFound(`product ${request.productId} not found`);
        if (current.active) await updateProductRow(tx, current.id, { active: false });
      });
      return {};
    },

    async createCategory(request, ctx) {
      requireAdmin(ctx);
      rejectIfAny([...checkCategoryName(request.name), ...checkOptionalId(request.parentId, "parent_id")]);
      try {
        const category = await database.transaction(async (tx) => {
          if (request.parentId !== "" && !(await categoryExists(tx, request.parentId)))
            throw unknownCategory("parent_id");
          return insertCategory(tx, {
            id: uuidv7(),
            name: request.name.trim(),
            parentId: request.parentId === "" ? null : request.parentId,
          });
        });
        return { category: categoryMessage(category) };
      } catch (error) {
        if (uniqueViolation(error) === "categories_sibling_name_idx")
          throw alreadyExists(`a category named "${request.name.trim()}" exists there already`, error);
        if (foreignKeyViolation(error) !== undefined) throw unknownCategory("parent_id");
        throw error;
      }
    },

    async listCategories(request) {
      const { size, problems } = pageSize(request.pageSize);
      rejectIfAny(problems);
      const fingerprint = listingFingerprint(["categories"]);
      let after: ReturnType<typeof decodePageToken>;
      if (request.pageToken !== "") {
        after = decodePageToken(request.pageToken, fingerprint, ["s", "s"]);
        if (!after) throw invalidToken();
      }
      const rows = await listCategories(database.db, { after, limit: size + 1 });
      const page = rows.slice(0, size);
      const last = page.at(-1);
      return {
        categories: page.map(categoryMessage),
        nextPageToken:
          rows.length > size && last ? encodePageToken(fingerprint, [last.nameKey, last.id]) : "",
      };
    },

    async addReview(request, ctx) {
      if (ctx.userId === undefined || ctx.userId === "") throw unauthenticated("sign in to write a review");
      const userId = request.userId === "" ? ctx.userId : request.userId;
      if (userId !== ctx.userId && ctx.role !== "admin")
        throw permissionDenied("you may only write reviews as yourself");
      rejectIfAny([
        ...checkId(request.productId, "product_id"),
        ...checkReview(request.rating, request.comment),
      ]);
      const review = await database.transaction(async (tx) => {
        const product = await findProduct(tx, request.productId);
        if (!product) throw notFound(`product ${request.productId} not found`);
        if (!product.active) throw failedPrecondition("the product is no longer for sale");
        const row = await insertReview(tx, {
          id: uuidv7(),
          productId: product.id,
          userId,
          rating: request.rating,
          comment: request.comment,
        });
        if (!row) throw alreadyExists("you have reviewed this product already");
        await addRating(tx, product.id, request.rating);
        return row;
      });
      return { review: reviewMessage(review) };
    },

    async listReviews(request) {
      const { size, problems } = pageSize(request.pageSize);
      rejectIfAny([...checkId(request.productId, "product_id"), ...problems]);
      const fingerprint = listingFingerprint(["reviews", request.productId]);
      let after: string | undefined;
      if (request.pageToken !== "") {
        const key = decodePageToken(request.pageToken, fingerprint, ["s"]);
        if (!key) throw invalidToken();
        after = String(key[0]);
      }
      if (!(await findProduct(database.db, request.productId)))
        throw notFound(`product ${request.productId} not found`);
      const rows = await listReviews(database.db, { productId: request.productId, after, limit: size + 1 });
      const page = rows.slice(0, size);
      const last = page.at(-1);
      return {
        reviews: page.map(reviewMessage),
        nextPageToken: rows.length > size && last ? encodePageToken(fingerprint, [last.id]) : "",
      };
    },
  };
}
