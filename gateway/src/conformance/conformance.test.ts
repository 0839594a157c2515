import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { repoRoot, requireTool } from "@mercato/testing/servers";
import { describe, expect, it } from "vitest";
import { type EdgeUnderTest, startEdgeUnderTest } from "./edge-under-test.js";

const run = promisify(execFile);
const here = fileURLToPath(new URL(".", import.meta.url));

/** Reads a request body. */
async function bodyOf(req: import("node:http").IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The control port shim.mjs talks to: starts an edge per ServerCompatRequest (`start`) in this warm
 * process and stops it when the runner is done with it; `close` stops those still running.
 */
function controlServer(start: (request: Uint8Array) => Promise<EdgeUnderTest>) {
  const edges = new Map<string, EdgeUnderTest>();
  let nextId = 0;
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.url === "/start") {
          const edge = await start(await bodyOf(req));
          const id = String(++nextId);
          edges.set(id, edge);
          res.writeHead(200, { "x-edge-id": id }).end(Buffer.from(edge.response));
        } else {
          const id = new URL(req.url ?? "/", "http://x").searchParams.get("id") ?? "";
          await edges.get(id)?.stop();
          edges.delete(id);
          res.writeHead(204).end();
        }
      } catch (error) {
        res.writeHead(500).end(String(error));
      }
    })();
  });
  return {
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async close(): Promise<void> {
      for (const edge of edges.values()) await edge.stop();
      server.close();
    },
  };
}

describe("the Connect conformance suite against the edge", () => {
  it(
    "passes every case the edge declares in config.yaml, except the justified known failures",
    async () => {
      const runner = requireTool("connectconformance");
      const root = repoRoot();
      const protoDir = join(root, ".tools/share/connectconformance/proto");
      const work = await mkdtemp(join(tmpdir(), "conformance-"));
      // Edges started before the runner, for the receive limit it always sends (200 KiB), so none
      // has to start within the runner's 10 s on a busy machine; a request for another limit starts one.
      const pool: Promise<EdgeUnderTest>[] = [];
      const standardLimit = 200 * 1024;
      let standard = new Uint8Array(0);
      let limitOf = (_request: Uint8Array) => 0;
      let registry: ReturnType<typeof createFileRegistry>;
      const control = controlServer((request) => {
        const pooled = limitOf(request) === standardLimit ? pool.shift() : undefined;
        return pooled ?? startEdgeUnderTest(registry, request);
      });
      try {
        const descriptors = join(work, "conformance.binpb");
        await run(join(root, "node_modules/.bin/buf"), ["build", protoDir, "-o", descriptors]);
        registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, await readFile(descriptors)));
        const compatSchema = registry.getMessage("connectrpc.conformance.v1.ServerCompatRequest");
        if (compatSchema === undefined) throw new Error("no ServerCompatRequest in the descriptor set");
        limitOf = (request) =>
          Number(
            (fromBinary(compatSchema, request) as { messageReceiveLimit?: number }).messageReceiveLimit ?? 0,
          );
        standard = toBinary(compatSchema, create(compatSchema, { messageReceiveLimit: standardLimit }));
        // One per server configuration the runner starts for config.yaml (5 protocol × HTTP version
        // pairs, and the gRPC reference client's), and a few to spare.
        for (let i = 0; i < 10; i++) pool.push(startEdgeUnderTest(registry, standard));
        await Promise.all(pool);
        const controlUrl = await control.listen();
        const { stdout } = await run(
          runner,
          [
            "--mode",
            "server",
            "--conf",
            join(here, "config.yaml"),
            "--known-failing",
            `@${join(here, "known-failing.txt")}`,
            "--",
            process.execPath,
            join(here, "shim.mjs"),
            controlUrl,
          ],
          { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
        ).catch((error: { stdout?: string; stderr?: string }) => {
          throw new Error(
            `connectconformance failed:\n${error.stdout ?? ""}\n${(error.stderr ?? "").slice(-4_000)}`,
          );
        });
        const summary = /(\d+) passed, (\d+) failed/.exec(stdout);
        expect(summary, stdout).not.toBeNull();
        expect(Number(summary?.[2])).toBe(0);
        expect(Number(summary?.[1])).toBeGreaterThan(300);
      } finally {
        await control.close();
        for (const edge of await Promise.all(pool)) await edge.stop();
        await rm(work, { recursive: true, force: true });
      }
    },
    { timeout: 600_000 },
  );
});
