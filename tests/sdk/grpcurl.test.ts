import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { repoRoot, requireTool } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoData } from "../../scripts/seed.js";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { run } from "./support.js";

// Runs the README's "Debugging with grpcurl" commands exactly as written, against a started system
// seeded with `pnpm start`'s demo data, with EDGE and INVENTORY set the way the README tells the user to.

const MARKER = "<!-- grpcurl-commands:";

/** The commands of the fenced block after the marker: one per line, `\`-continued lines joined. */
export function readmeCommands(readme: string): string[] {
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no ${MARKER} block`);
  const block = /```sh\n([\s\S]*?)\n```/.exec(readme.slice(at));
  if (!block?.[1]) throw new Error("no ```sh block after the grpcurl marker");
  return block[1]
    .replace(/\\\n/g, "")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"));
}

/** What each README command must print; every command must match exactly one rule. */
const expectations: ReadonlyArray<{ command: RegExp; check(output: string): void }> = [
  {
    command: /\$EDGE list$/,
    check(output) {
      expect(output).toContain("mercato.catalog.v1.CatalogService");
      expect(output).toContain("mercato.order.v1.OrderService");
      expect(output).not.toContain("mercato.testing.v1.ProbeService"); // INTERNAL: never at the edge
    },
  },
  {
    command: /\$EDGE describe mercato\.order\.v1\.OrderService\.PlaceOrder$/,
    check: (output) =>
      expect(output).toMatch(/rpc PlaceOrder \( \.mercato\.order\.v1\.PlaceOrderRequest \) returns/),
  },
  {
    command: /\$EDGE describe mercato\.order\.v1\.PlaceOrderRequest$/,
    check: (output) => expect(output).toMatch(/repeated \.mercato\.order\.v1\.PlaceOrderLine lines = 2;/),
  },
  {
    command: /CatalogService\/ListProducts$/,
    check: (output) => expect(JSON.parse(output).products).toHaveLength(2),
  },
  { command: /^TOKEN=/, check: (output) => expect(output).toBe("") },
  {
    command: /IdentityService\/GetUser/,
    check: (output) => expect(JSON.parse(output).user).toMatchObject({ email: "customer@mercato.local" }),
  },
  {
    command: /OrderService\/ListOrders$/,
    check: (output) => expect(JSON.parse(output)).toEqual({}), // the demo customer has no orders yet
  },
  {
    command: /\$INVENTORY list$/,
    check(output) {
      expect(output).toContain("mercato.inventory.v1.InventoryService");
      expect(output).toContain("grpc.health.v1.Health");
    },
  },
  {
    command: /\$INVENTORY describe mercato\.inventory\.v1\.InventoryService$/,
    check: (output) => expect(output).toMatch(/rpc Reserve \(/), // INTERNAL RPCs are visible here
  },
  {
    command: /Health\/Check$/,
    check: (output) => expect(JSON.parse(output)).toEqual({ status: "SERVING" }),
  },
  {
    command: /InventoryService\/GetStock$/,
    check: (output) => expect(JSON.parse(output)).toMatchObject({ sku: "COF-ETH-250" }),
  },
];

let e2e: E2eSystem;

beforeAll(async () => {
  e2e = await startE2eSystem({ name: "grpcurl" });
  await seedDemoData(e2e.url, admin);
}, 180_000);

afterAll(async () => {
  await e2e?.stop();
});

describe("README: Debugging with grpcurl", () => {
  const commands = readmeCommands(readFileSync(join(repoRoot(), "README.md"), "utf8"));

  it("has a check for every command it shows", () => {
    expect(commands.length).toBeGreaterThanOrEqual(expectations.length);
    for (const command of commands) {
      expect(
        expectations.filter((rule) => rule.command.test(command)).map((rule) => rule.command),
        command,
      ).toHaveLength(1);
    }
  });

  it("every command works against the running system and prints what the README promises", async () => {
    // One shell runs the commands in order (TOKEN carries over), with a separator before each output.
    const script = [
      "set -euo pipefail",
      ...commands.flatMap((command, index) => [`echo "@@@ ${index}"`, command]),
    ].join("\n");
    const { stdout } = await run("bash", ["-c", script], {
      env: {
        PATH: `${dirname(requireTool("grpcurl"))}:${process.env.PATH ?? ""}`,
        EDGE: new URL(e2e.url).host,
        INVENTORY: e2e.system.address("inventory"),
      },
      timeoutMs: 60_000,
    });
    const outputs = stdout.split(/^@@@ \d+\n/m).slice(1);
    expect(outputs).toHaveLength(commands.length);
    commands.forEach((command, index) => {
      const rule = expectations.find((candidate) => candidate.command.test(command));
      rule?.check(outputs[index]?.trim() ?? "");
    });
  });
});
