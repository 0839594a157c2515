import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { createProduct, stockOf } from "../e2e/shop-helpers.js";
import { goTool, lastJsonLine, run, sdkPython } from "./support.js";

// The SDK examples in TypeScript, Go and Python, each run as its own program against one started system.
// Each registers a customer, lists products, orders one unit of the first (the only) product through the
// edge with tok_visa and prints the order it read back; the catalog's stock proves each order was real.
const root = repoRoot();
const price = 1999;
const initialStock = 10;
let e2e: E2eSystem;
let product: { id: string; sku: string };
let ordersPlaced = 0;

beforeAll(async () => {
  e2e = await startE2eSystem({ name: "sdk" });
  product = await createProduct(e2e, await e2e.login(admin.email, admin.password), price, initialStock);
}, 180_000);

afterAll(async () => {
  await e2e?.stop();
});

/** Checks the order an example printed, and that stock went down by one more unit. */
// biome-ignore lint/suspicious/noExplicitAny: the example's JSON output
async function expectConfirmedOrder(order: any): Promise<void> {
  ordersPlaced += 1;
  expect(order).toMatchObject({
    status: "ORDER_STATUS_CONFIRMED",
    total: { currencyCode: "EUR", amountMinor: String(price) },
    lines: [{ productId: product.id, sku: product.sku, quantity: 1 }],
  });
  expect(order.id).toMatch(/^[0-9a-f-]{36}$/);
  await expect
    .poll(() => stockOf(e2e, product.sku), { timeout: 30_000 })
    .toMatchObject({ onHand: initialStock - ordersPlaced, reserved: 0 });
}

describe("SDK examples place an order through the edge", () => {
  it("TypeScript (@mercato/sdk over Connect): packages/sdk/examples/place-order.ts", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "packages/sdk/examples/place-order.ts"],
      {
        cwd: root,
        env: { MERCATO_URL: e2e.url },
      },
    );
    await expectConfirmedOrder(lastJsonLine(stdout));
  });

  it("Go (sdk/go over gRPC): sdk/go/examples/smoke", async () => {
    const dir = join(root, "sdk/go");
    const out = mkdtempSync(join(tmpdir(), "mercato-go-smoke-"));
    try {
      const binary = join(out, "smoke");
      await run(goTool(), ["build", "-o", binary, "./examples/smoke"], { cwd: dir });
      const { stdout } = await run(binary, [], { env: { MERCATO_EDGE: new URL(e2e.url).host } });
      await expectConfirmedOrder(lastJsonLine(stdout));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);

  it("Python (sdk/python over gRPC): sdk/python/examples/smoke.py", async () => {
    const { stdout } = await run(sdkPython(), ["sdk/python/examples/smoke.py"], {
      cwd: root,
      env: {
        MERCATO_EDGE: new URL(e2e.url).host,
        PYTHONPATH: join(root, "sdk/python/src"),
        PYTHONDONTWRITEBYTECODE: "1",
      },
    });
    await expectConfirmedOrder(lastJsonLine(stdout));
  });
});
