import { fromBinary } from "@bufbuild/protobuf";
import { Code, ServiceError } from "@mercato/platform/errors";
import { type Product, ProductSort } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { PriceChangedSchema, ProductCreatedSchema } from "@mercato/sdk/gen/mercato/catalog/v1/events_pb";
import { waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, as, startCatalog, streamMessages, type TestCatalog } from "../test/helpers.js";
import { products } from "./db/schema.js";
import { PRICE_CHANGED_SUBJECT, PRODUCT_CREATED_SUBJECT } from "./events/publish.js";
import { catalogStream } from "./server.js";

let catalog: TestCatalog;
beforeAll(async () => {
  catalog = await startCatalog();
});
afterAll(async () => {
  await catalog?.stop();
});

const customer = as("0190aaaa-0000-7000-8000-00000000c001", "customer");
const eur = (amount: number) => ({ currencyCode: "EUR", amountMinor: BigInt(amount) });
let skuCounter = 0;
const nextSku = (prefix = "SKU") => `${prefix}-${Date.now().toString(36).toUpperCase()}-${++skuCounter}`;

async function failure(promise: Promise<unknown>, code: Code): Promise<ServiceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${Code[code]}`).toBeInstanceOf(ServiceError);
  expect(Code[(error as ServiceError).code]).toBe(Code[code]);
  return error as ServiceError;
}

async function rowCounts() {
  const [row] = await catalog.service.database.query<{
    products: number;
    categories: number;
    outbox: number;
  }>(
    sql`select (select count(*)::int from products) as products,
               (select count(*)::int from categories) as categories,
               (select count(*)::int from outbox) as outbox`,
  );
  return row;
}

async function createProduct(fields: {
  name?: string;
  description?: string;
  price?: number;
  categoryId?: string;
}): Promise<Product> {
  const { product } = await catalog.client.createProduct(
    {
      sku: nextSku(),
      name: fields.name ?? "Thing",
      description: fields.description ?? "",
      price: eur(fields.price ?? 100),
      categoryId: fields.categoryId ?? "",
    },
    admin,
  );
  return product!;
}

async function newCategory(name = `cat ${nextSku()}`) {
  const { category } = await catalog.client.createCategory({ name }, admin);
  return category!;
}

describe("products", () => {
  it("creates, reads, updates and deletes (deactivates) a product", async () => {
    const category = await newCategory("Kitchen");
    const sku = nextSku("KETTLE");
    const { product } = await catalog.client.createProduct(
      { sku, name: "  Kettle ", description: "Boils water", price: eur(2999), categoryId: category.id },
      admin,
    );
    expect(product).toMatchObject({ sku, name: "Kettle", active: true, categoryId: category.id });
    expect(product?.price).toMatchObject({ currencyCode: "EUR", amountMinor: 2999n });
    expect(product?.averageRating).toBe(0);
    expect(product?.reviewCount).toBe(0);

    const got = await catalog.client.getProduct({ productId: product!.id });
    expect(got.product?.id).toBe(product!.id);

    const updated = await catalog.client.updateProduct(
      { productId: product!.id, name: "Electric kettle", price: eur(2499) },
      admin,
    );
    expect(updated.product).toMatchObject({ name: "Electric kettle", description: "Boils water", sku });
    expect(updated.product?.price?.amountMinor).toBe(2499n);

    const cleared = await catalog.client.updateProduct({ productId: product!.id, categoryId: "" }, admin);
    expect(cleared.product?.categoryId).toBe("");

    await failure(
      catalog.client.createProduct({ sku, name: "Again", price: eur(1) }, admin),
      Code.ALREADY_EXISTS,
    );

    await catalog.client.deleteProduct({ productId: product!.id }, admin);
    await catalog.client.deleteProduct({ productId: product!.id }, admin); // idempotent
    const afterDelete = await catalog.client.getProduct({ productId: product!.id });
    expect(afterDelete.product?.active).toBe(false);
    const listed = await catalog.client.listProducts({ query: sku, pageSize: 10 });
    expect(listed.products).toHaveLength(0);

    await failure(
      catalog.client.getProduct({ productId: "0190aaaa-0000-7000-8000-000000000000" }),
      Code.NOT_FOUND,
    );
    await failure(
      catalog.client.deleteProduct({ productId: "0190aaaa-0000-7000-8000-000000000000" }, admin),
      Code.NOT_FOUND,
    );
  });

  it("rejects invalid input with INVALID_ARGUMENT naming the field, writing nothing", async () => {
    const before = await rowCounts();
    const cases: [Record<string, unknown>, string][] = [
      [{ sku: "lower-case", name: "X", price: eur(1) }, "sku"],
      [{ sku: "", name: "X", price: eur(1) }, "sku"],
      [{ sku: "A".repeat(65), name: "X", price: eur(1) }, "sku"],
      [{ sku: nextSku(), name: "   ", price: eur(1) }, "name"],
      [{ sku: nextSku(), name: "X", price: eur(-5) }, "price.amount_minor"],
      [{ sku: nextSku(), name: "X", price: eur(0) }, "price.amount_minor"],
      [{ sku: nextSku(), name: "X", price: { currencyCode: "eur", amountMinor: 5n } }, "price.currency_code"],
      [
        { sku: nextSku(), name: "X", price: { currencyCode: "EURO", amountMinor: 5n } },
        "price.currency_code",
      ],
      [{ sku: nextSku(), name: "X" }, "price"],
      [{ sku: nextSku(), name: "X", price: eur(1), categoryId: "nope" }, "category_id"],
      [
        { sku: nextSku(), name: "X", price: eur(1), categoryId: "0190aaaa-0000-7000-8000-0000000000ff" },
        "category_id",
      ],
    ];
    for (const [request, field] of cases) {
      const error = await failure(catalog.client.createProduct(request, admin), Code.INVALID_ARGUMENT);
      expect(
        error.violations.map((v) => v.field),
        JSON.stringify(request, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
      ).toContain(field);
    }
    const product = await createProduct({});
    const before2 = await rowCounts();
    const error = await failure(
      catalog.client.updateProduct({ productId: product.id, name: "", price: eur(-1) }, admin),
      Code.INVALID_ARGUMENT,
    );
    expect(error.violations.map((v) => v.field).sort()).toEqual(["name", "price.amount_minor"]);
    await failure(
      catalog.client.updateProduct(
        { productId: product.id, categoryId: "0190aaaa-0000-7000-8000-0000000000ff" },
        admin,
      ),
      Code.INVALID_ARGUMENT,
    );
    expect((await catalog.client.getProduct({ productId: product.id })).product?.name).toBe("Thing");
    expect(await rowCounts()).toEqual(before2);
    expect(before2?.products).toBe((before?.products ?? 0) + 1);

    await failure(catalog.client.createCategory({ name: "" }, admin), Code.INVALID_ARGUMENT);
    await failure(
      catalog.client.createCategory(
        { name: "Orphan", parentId: "0190aaaa-0000-7000-8000-0000000000ff" },
        admin,
      ),
      Code.INVALID_ARGUMENT,
    );
    await failure(catalog.client.listProducts({ pageSize: -1 }), Code.INVALID_ARGUMENT);
    await failure(catalog.client.listProducts({ sort: 99 as ProductSort }), Code.INVALID_ARGUMENT);
    await failure(catalog.client.listProducts({ pageToken: "garbage" }), Code.INVALID_ARGUMENT);
  });

  it("refuses writes from non-admins with PERMISSION_DENIED", async () => {
    const product = await createProduct({});
    const before = await rowCounts();
    await failure(
      catalog.client.createProduct({ sku: nextSku(), name: "X", price: eur(1) }, customer),
      Code.PERMISSION_DENIED,
    );
    await failure(
      catalog.client.createProduct({ sku: nextSku(), name: "X", price: eur(1) }),
      Code.PERMISSION_DENIED,
    );
    await failure(
      catalog.client.updateProduct({ productId: product.id, price: eur(1) }, customer),
      Code.PERMISSION_DENIED,
    );
    await failure(catalog.client.deleteProduct({ productId: product.id }, customer), Code.PERMISSION_DENIED);
    await failure(catalog.client.createCategory({ name: "Nope" }, customer), Code.PERMISSION_DENIED);
    expect(await rowCounts()).toEqual(before);
    expect((await catalog.client.getProduct({ productId: product.id })).product?.active).toBe(true);
  });
});

describe("listing", () => {
  it("pages through 3 pages in every sort order without gaps or duplicates", async () => {
    const category = await newCategory();
    const created: Product[] = [];
    // Prices repeat so the id tie-breaker matters.
    for (let i = 0; i < 25; i++) {
      created.push(
        await createProduct({
          name: `Item ${String.fromCharCode(97 + (i % 7))}${i}`,
          price: 100 * (i % 4) + 50,
          categoryId: category.id,
        }),
      );
    }
    const ids = created.map((p) => p.id).sort();
    for (const sort of [
      ProductSort.UNSPECIFIED,
      ProductSort.NEWEST,
      ProductSort.NAME_ASC,
      ProductSort.PRICE_ASC,
      ProductSort.PRICE_DESC,
      ProductSort.RATING_DESC,
    ]) {
      const seen: Product[] = [];
      let token = "";
      let pages = 0;
      do {
        const page = await catalog.client.listProducts({
          categoryId: category.id,
          pageSize: 10,
          pageToken: token,
          sort,
        });
        seen.push(...page.products);
        token = page.nextPageToken;
        pages++;
      } while (token !== "" && pages < 10);
      expect(pages, ProductSort[sort]).toBe(3);
      expect(seen.map((p) => p.id).sort(), ProductSort[sort]).toEqual(ids);
      const inOrder = [...seen].sort(comparator(sort));
      expect(
        seen.map((p) => p.id),
        ProductSort[sort],
      ).toEqual(inOrder.map((p) => p.id));
    }
    // A token is bound to its listing.
    const first = await catalog.client.listProducts({
      categoryId: category.id,
      pageSize: 10,
      sort: ProductSort.PRICE_ASC,
    });
    const error = await failure(
      catalog.client.listProducts({
        categoryId: category.id,
        pageSize: 10,
        pageToken: first.nextPageToken,
        sort: ProductSort.NAME_ASC,
      }),
      Code.INVALID_ARGUMENT,
    );
    expect(error.violations[0]?.field).toBe("page_token");
  });

  it("caps page_size at 200", async () => {
    const category = await newCategory();
    await catalog.service.database.db.insert(products).values(
      Array.from({ length: 205 }, (_, i) => ({
        id: `0190bbbb-0000-7000-8000-${String(i).padStart(12, "0")}`,
        sku: `BULK-${i}`,
        name: `Bulk ${i}`,
        priceMinor: 10n,
        currencyCode: "EUR",
        categoryId: category.id,
      })),
    );
    const page = await catalog.client.listProducts({ categoryId: category.id, pageSize: 1000 });
    expect(page.products).toHaveLength(200);
    expect(page.nextPageToken).not.toBe("");
    const rest = await catalog.client.listProducts({
      categoryId: category.id,
      pageSize: 1000,
      pageToken: page.nextPageToken,
    });
    expect(rest.products).toHaveLength(5);
    expect(rest.nextPageToken).toBe("");
    const byDefault = await catalog.client.listProducts({ categoryId: category.id });
    expect(byDefault.products).toHaveLength(50);
  });

  it("filters by text (name, description, SKU; case-insensitive) and by category", async () => {
    const garden = await newCategory();
    const other = await newCategory();
    const hose = await createProduct({ name: "Garden HOSE 20m", categoryId: garden.id });
    const rake = await createProduct({
      name: "Rake",
      description: "For the garden's leaves",
      categoryId: garden.id,
    });
    const percent = await createProduct({ name: "100% cotton towel", categoryId: other.id });
    await createProduct({ name: "Towel", categoryId: other.id });

    const byText = await catalog.client.listProducts({ query: "GARDEN", pageSize: 200 });
    expect(byText.products.map((p) => p.id).sort()).toEqual([hose.id, rake.id].sort());
    const inGarden = await catalog.client.listProducts({ categoryId: garden.id });
    expect(inGarden.products.map((p) => p.id).sort()).toEqual([hose.id, rake.id].sort());
    const both = await catalog.client.listProducts({ categoryId: garden.id, query: "hose" });
    expect(both.products.map((p) => p.id)).toEqual([hose.id]);
    const wildcard = await catalog.client.listProducts({ query: "0%", pageSize: 200 });
    expect(wildcard.products.map((p) => p.id)).toEqual([percent.id]);
    const bySku = await catalog.client.listProducts({ query: hose.sku.toLowerCase() });
    expect(bySku.products.map((p) => p.id)).toEqual([hose.id]);
    const none = await catalog.client.listProducts({ categoryId: "0190aaaa-0000-7000-8000-0000000000ff" });
    expect(none.products).toHaveLength(0);
  });

  it("lists categories by name across pages", async () => {
    const parent = await newCategory("ZZ Parent");
    const child = (await catalog.client.createCategory({ name: "Child", parentId: parent.id }, admin))
      .category!;
    expect(child.parentId).toBe(parent.id);
    await failure(
      catalog.client.createCategory({ name: "child", parentId: parent.id }, admin),
      Code.ALREADY_EXISTS,
    );
    const names: string[] = [];
    let token = "";
    do {
      const page = await catalog.client.listCategories({ pageSize: 2, pageToken: token });
      names.push(...page.categories.map((c) => c.name));
      token = page.nextPageToken;
    } while (token !== "");
    expect(names).toContain("Child");
    expect(names).toEqual(
      [...names].sort((a, b) =>
        a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0,
      ),
    );
    expect(new Set(names).size).toBe(names.length);
  });
});

function comparator(sort: ProductSort) {
  const byId = (a: Product, b: Product) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return (a: Product, b: Product): number => {
    switch (sort) {
      case ProductSort.NAME_ASC: {
        const x = a.name.toLowerCase();
        const y = b.name.toLowerCase();
        return x < y ? -1 : x > y ? 1 : byId(a, b);
      }
      case ProductSort.PRICE_ASC:
        return Number(a.price!.amountMinor - b.price!.amountMinor) || byId(a, b);
      case ProductSort.PRICE_DESC:
        return Number(b.price!.amountMinor - a.price!.amountMinor) || byId(b, a);
      case ProductSort.RATING_DESC:
        return b.averageRating - a.averageRating || byId(b, a);
      default:
        return byId(b, a);
    }
  };
}

describe("reviews", () => {
  it("keeps the average and count, one review per user, ratings 1 to 5", async () => {
    const product = await createProduct({});
    const users = [
      "0190cccc-0000-7000-8000-000000000001",
      "0190cccc-0000-7000-8000-000000000002",
      "0190cccc-0000-7000-8000-000000000003",
    ];
    const ratings = [5, 4, 2];
    for (const [i, user] of users.entries()) {
      const { review } = await catalog.client.addReview(
        { productId: product.id, rating: ratings[i]!, comment: `review ${i}` },
        as(user, "customer"),
      );
      expect(review).toMatchObject({ userId: user, rating: ratings[i], productId: product.id });
    }
    const got = (await catalog.client.getProduct({ productId: product.id })).product!;
    expect(got.reviewCount).toBe(3);
    expect(got.averageRating).toBeCloseTo(11 / 3, 10);

    await failure(
      catalog.client.addReview({ productId: product.id, rating: 1 }, as(users[0]!, "customer")),
      Code.ALREADY_EXISTS,
    );
    for (const rating of [0, 6, -1]) {
      const error = await failure(
        catalog.client.addReview(
          { productId: product.id, rating },
          as("0190cccc-0000-7000-8000-000000000009", "customer"),
        ),
        Code.INVALID_ARGUMENT,
      );
      expect(error.violations.map((v) => v.field)).toEqual(["rating"]);
    }
    await failure(catalog.client.addReview({ productId: product.id, rating: 3 }), Code.UNAUTHENTICATED);
    await failure(
      catalog.client.addReview(
        { productId: product.id, userId: users[1]!, rating: 3 },
        as("0190cccc-0000-7000-8000-000000000009", "customer"),
      ),
      Code.PERMISSION_DENIED,
    );
    await failure(
      catalog.client.addReview({ productId: "0190aaaa-0000-7000-8000-0000000000ff", rating: 3 }, customer),
      Code.NOT_FOUND,
    );
    const after = (await catalog.client.getProduct({ productId: product.id })).product!;
    expect(after.reviewCount).toBe(3);

    const listed = await catalog.client.listReviews({ productId: product.id, pageSize: 2 });
    expect(listed.reviews.map((r) => r.comment)).toEqual(["review 2", "review 1"]);
    const rest = await catalog.client.listReviews({
      productId: product.id,
      pageSize: 2,
      pageToken: listed.nextPageToken,
    });
    expect(rest.reviews.map((r) => r.comment)).toEqual(["review 0"]);
    expect(rest.nextPageToken).toBe("");
  });

  it("keeps the average right under concurrent reviews", async () => {
    const product = await createProduct({});
    const ratings = Array.from({ length: 20 }, (_, i) => (i % 5) + 1);
    await Promise.all(
      ratings.map((rating, i) =>
        catalog.client.addReview(
          { productId: product.id, rating },
          as(`0190dddd-0000-7000-8000-${String(i).padStart(12, "0")}`, "customer"),
        ),
      ),
    );
    const got = (await catalog.client.getProduct({ productId: product.id })).product!;
    expect(got.reviewCount).toBe(20);
    expect(got.averageRating).toBe(3);
  });
});

describe("events", () => {
  it("publishes ProductCreated and PriceChanged once each, through the outbox", async () => {
    const product = await createProduct({ price: 1000 });
    await catalog.client.updateProduct({ productId: product.id, price: eur(800) }, admin);
    await catalog.client.updateProduct({ productId: product.id, name: "Renamed", price: eur(800) }, admin); // same price: no event

    const created = async () =>
      (await streamMessages(catalog.nc, catalogStream.name, PRODUCT_CREATED_SUBJECT))
        .map((m) => fromBinary(ProductCreatedSchema, m.data))
        .filter((e) => e.productId === product.id);
    const repriced = async () =>
      (await streamMessages(catalog.nc, catalogStream.name, PRICE_CHANGED_SUBJECT))
        .map((m) => fromBinary(PriceChangedSchema, m.data))
        .filter((e) => e.productId === product.id);

    await waitFor(async () => (await created()).length > 0 && (await repriced()).length > 0, {
      message: "catalog events",
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [createdEvents, priceEvents] = [await created(), await repriced()];
    expect(createdEvents).toHaveLength(1);
    expect(createdEvents[0]).toMatchObject({ sku: product.sku, name: product.name });
    expect(createdEvents[0]?.price?.amountMinor).toBe(1000n);
    expect(priceEvents).toHaveLength(1);
    expect(priceEvents[0]?.oldPrice?.amountMinor).toBe(1000n);
    expect(priceEvents[0]?.newPrice?.amountMinor).toBe(800n);

    const [pending] = await catalog.service.database.query<{ n: number }>(
      sql`select count(*)::int as n from outbox where published_at is null and aggregate_id = ${product.id}`,
    );
    expect(pending?.n).toBe(0);
  });
});
