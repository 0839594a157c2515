import { execFile } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The package as it would be published: `pnpm pack` (which builds dist/ first), unpacked into a
// consumer's node_modules with the SDK's own dependencies beside it, then used by plain Node (no tsx) and
// type-checked by tsc like a consumer's code would be.
const run = promisify(execFile);
const sdkDir = join(dirname(fileURLToPath(import.meta.url)), "..");
let consumer: string;
// biome-ignore lint/suspicious/noExplicitAny: the packed package.json
let packed: any;

beforeAll(async () => {
  consumer = mkdtempSync(join(tmpdir(), "mercato-sdk-consumer-"));
  await run("pnpm", ["pack", "--pack-destination", consumer], { cwd: sdkDir });
  // An ES module consumer, as the SDK is ESM only.
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", type: "module" }));
  const installed = join(consumer, "node_modules/@mercato/sdk");
  mkdirSync(installed, { recursive: true });
  await run("tar", [
    "-xzf",
    join(consumer, `mercato-sdk-${sdkVersion()}.tgz`),
    "-C",
    installed,
    "--strip-components=1",
  ]);
  packed = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  for (const name of [
    ...Object.keys(packed.dependencies),
    "@connectrpc/connect-web",
    "@types/node",
    "typescript",
  ]) {
    mkdirSync(dirname(join(consumer, "node_modules", name)), { recursive: true });
    symlinkSync(realpathSync(join(sdkDir, "node_modules", name)), join(consumer, "node_modules", name));
  }
}, 180_000);

afterAll(() => {
  if (consumer) rmSync(consumer, { recursive: true, force: true });
});

function sdkVersion(): string {
  return JSON.parse(readFileSync(join(sdkDir, "package.json"), "utf8")).version;
}

describe("@mercato/sdk as published", () => {
  it("has concrete dependency versions and exports that point at built JavaScript with types", () => {
    expect(JSON.stringify(packed)).not.toMatch(/workspace:|catalog:/);
    for (const [subpath, target] of Object.entries<{ types: string; default: string }>(packed.exports)) {
      expect(target.default, subpath).toMatch(/^\.\/dist\/.*\.js$/);
      expect(target.types, subpath).toMatch(/^\.\/dist\/.*\.d\.ts$/);
    }
  });

  it("loads in plain Node through every export", async () => {
    const script = `
      import { services, orderV1 } from "@mercato/sdk";
      import { createMercatoClients, bearerAuth } from "@mercato/sdk/clients";
      import { createMercatoClient } from "@mercato/sdk/connect";
      import { createGrpcClient } from "@mercato/sdk/grpc";
      import { OrderSchema } from "@mercato/sdk/gen/mercato/order/v1/order_pb.js";
      const client = createMercatoClient("http://127.0.0.1:1");
      console.log(JSON.stringify({
        services: services.length,
        same: orderV1.OrderSchema === OrderSchema,
        kinds: [typeof createMercatoClients, typeof bearerAuth, typeof createGrpcClient, typeof client.order.placeOrder],
      }));`;
    const { stdout: output } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: consumer,
    });
    expect(JSON.parse(output)).toEqual({
      services: expect.any(Number),
      same: true,
      kinds: ["function", "function", "function", "function"],
    });
  });

  it("type-checks a consumer's code and the README's examples against the published declarations", {
    timeout: 120_000,
  }, async () => {
    writeFileSync(
      join(consumer, "consumer.ts"),
      `import { orderV1 } from "@mercato/sdk";
       import { createMercatoClient } from "@mercato/sdk/connect";
       export async function total(orderId: string): Promise<bigint> {
         const { order } = await createMercatoClient("http://localhost:8080").order.getOrder({ orderId });
         const status: orderV1.OrderStatus | undefined = order?.status;
         return status === orderV1.OrderStatus.CONFIRMED ? (order?.total?.amountMinor ?? 0n) : 0n;
       }
       // @ts-expect-error: quantity is a number in the contract
       export const wrong: orderV1.PlaceOrderLine["quantity"] = "2";
      `,
    );
    const readme = readFileSync(join(sdkDir, "README.md"), "utf8");
    const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
    expect(examples.length).toBeGreaterThanOrEqual(3);
    // What the README's snippets take from their surroundings.
    const prelude = "declare const email: string, password: string, productId: string, requestId: string;\n";
    const snippets = examples.map((example, index) => {
      writeFileSync(join(consumer, `readme-${index}.ts`), `${prelude}${example}`);
      return `readme-${index}.ts`;
    });
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          module: "NodeNext",
          strict: true,
          noEmit: true,
          types: ["node"],
          skipLibCheck: true,
        },
        files: ["consumer.ts", ...snippets],
      }),
    );
    const tsc = join(consumer, "node_modules/typescript/bin/tsc");
    // tsc exits non-zero (and `run` rejects with its diagnostics) on any type error.
    await run(process.execPath, [tsc, "-p", consumer]).catch((error: { stdout?: string }) => {
      throw new Error(`tsc found type errors:\n${error.stdout ?? String(error)}`);
    });
  });
});
