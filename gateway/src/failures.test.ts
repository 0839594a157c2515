import { Writable } from "node:stream";
import { createLogger } from "@mercato/platform/log";
import { freePort } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson, startTestGateway, type TestGateway } from "./testing/gateway.js";
import { startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;

describe("why a call failed, in the edge's log", () => {
  const lines: Record<string, unknown>[] = [];
  let upstreams: TestUpstreams;
  let edge: TestGateway;
  let deadPort: number;
  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    deadPort = await freePort();
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line));
        done();
      },
    });
    const logger = createLogger({ service: "gateway-test", level: "info", destination });
    edge = await startTestGateway(upstreams, { INVENTORY_ADDRESS: `127.0.0.1:${deadPort}` }, logger);
  });
  afterAll(async () => {
    await edge?.stop();
    await upstreams?.stop();
  });

  const logOf = (requestId: string) =>
    lines.find((l) => l.requestId === requestId && l.msg === "call failed");

  it("logs an unreachable upstream with code, upstream, cause, request id and trace id; the client sees none of it", async () => {
    const response = await postJson(
      edge.base,
      "/mercato.inventory.v1.InventoryService/GetStock",
      { sku: "A" },
      {
        "x-request-id": "why-1",
        traceparent,
      },
    );
    expect(response.status).toBe(503);
    const body = await response.json();
    expect(body).toEqual({ code: "unavailable", message: "service unavailable, try again later" });
    await expect.poll(() => logOf("why-1")).toBeDefined();
    expect(logOf("why-1")).toMatchObject({
      level: "warn",
      traceId,
      method: "/mercato.inventory.v1.InventoryService/GetStock",
      code: "unavailable",
      upstream: "inventory",
    });
    expect(String(logOf("why-1")?.reason)).toContain(`127.0.0.1:${deadPort}`);
  });

  it("logs a service's own answer with its message, at info", async () => {
    const response = await postJson(
      edge.base,
      "/mercato.catalog.v1.CatalogService/GetProduct",
      { productId: "nope" },
      {
        "x-request-id": "why-2",
      },
    );
    expect(response.status).toBe(404);
    await expect.poll(() => logOf("why-2")).toBeDefined();
    expect(logOf("why-2")).toMatchObject({
      level: "info",
      code: "not_found",
      upstream: "catalog",
      message: "product nope not found",
    });
    expect(logOf("why-2")?.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});
