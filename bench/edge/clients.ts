/**
 * The edge's upstream client measured alone (docs/decisions.md, "the edge's upstream client"): CPU time
 * per call in the calling process for (a) gateway/src/grpc-unary.ts (bytes in and out; the edge encodes
 * the request and decodes the response itself, as on its JSON path) and (b) connect-node's gRPC
 * transport (messages in and out), against the same grpc-js server in a child process
 * (`bench/kit/server.ts`, MODE=bare, InventoryService/GetStock). 16 calls in flight, interleaved
 * repetitions, each variant first in turn.
 *
 * Usage: pnpm exec node --import tsx bench/edge/clients.ts [calls per repetition] [repetitions]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { inventoryV1 } from "@mercato/sdk";
import { freePort } from "@mercato/testing/servers";
import { GrpcUnaryClient } from "../../gateway/src/grpc-unary.js";

const calls = Number(process.argv[2] ?? 4_000);
const repetitions = Number(process.argv[3] ?? 5);
const inFlight = 16;
const method = inventoryV1.InventoryService.method.getStock;
const path = `/${inventoryV1.InventoryService.typeName}/${method.name}`;

const port = await freePort();
const server = spawn(
  process.execPath,
  ["--import", "tsx", fileURLToPath(new URL("../kit/server.ts", import.meta.url))],
  {
    env: { ...process.env, MODE: "bare", PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  },
);
await new Promise<void>((resolve) =>
  server.stdout.on("data", (d: Buffer) => d.toString().includes("listening") && resolve()),
);

const lean = new GrpcUnaryClient(`ipv4:127.0.0.1:${port}`);
const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });

type Variant = { name: string; call: (i: number) => Promise<number> };
const variants: Variant[] = [
  {
    name: "grpc-unary.ts (bytes; edge encodes/decodes)",
    call: async (i) => {
      const body = Buffer.from(toBinary(method.input, create(method.input, { sku: `SKU-${i % 1000}` })));
      const response = await lean.unary(path, body, { "x-request-id": `r-${i}` }, Date.now() + 10_000).result;
      return fromBinary(method.output, response.message).onHand;
    },
  },
  {
    name: "connect-node gRPC transport (messages)",
    call: async (i) => {
      const response = await transport.unary(
        method,
        undefined,
        10_000,
        { "x-request-id": `r-${i}` },
        create(method.input, { sku: `SKU-${i % 1000}` }),
        undefined,
      );
      return response.message.onHand;
    },
  },
];

async function measure(variant: Variant): Promise<number> {
  let next = 0;
  const started = process.cpuUsage();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < calls) await variant.call(next++);
    }),
  );
  const used = process.cpuUsage(started);
  return (used.user + used.system) / calls;
}

for (const variant of variants) await measure({ ...variant, call: variant.call }); // warm-up
const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let r = 0; r < repetitions; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const variant of order) results.get(variant.name)?.push(await measure(variant));
}
for (const [name, values] of results) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(
    `${name}: median ${median.toFixed(0)} µs CPU per call (${sorted[0]?.toFixed(0)}–${sorted.at(-1)?.toFixed(0)})`,
  );
}
lean.close();
server.kill();
