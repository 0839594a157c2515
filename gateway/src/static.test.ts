import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@mercato/platform/log";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentSecurityPolicy, loadStaticSite } from "./static.js";

const logger = createLogger({ service: "static-test", level: "silent" });
const apiPath = "/mercato.catalog.v1.CatalogService/ListProducts";
const script = `console.log(${JSON.stringify("x".repeat(4000))});\n`;

let root: string;
let server: Server;
let base: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "mercato-static-"));
  mkdirSync(join(root, "assets"));
  writeFileSync(
    join(root, "index.html"),
    '<!doctype html><script type="module" src="/assets/app-1a2b.js"></script>',
  );
  writeFileSync(join(root, "assets/app-1a2b.js"), script);
  writeFileSync(join(root, "robots.txt"), "User-agent: *\n");
  const site = loadStaticSite(root, (path) => path === apiPath, logger);
  if (site === undefined) throw new Error("site not loaded");
  // What the edge would answer for everything the site leaves alone.
  server = createServer((req, res) => {
    if (site.serve(req, res)) return;
    res.writeHead(404, { "content-type": "application/json" }).end('{"code":"unimplemented"}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

describe("the storefront at the edge", () => {
  it("serves index.html at / with a strict CSP, revalidated on every load", async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("content-security-policy")).toBe(contentSecurityPolicy);
    expect(contentSecurityPolicy).toContain("script-src 'self'");
    expect(contentSecurityPolicy).not.toContain("unsafe-inline");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await response.text()).toContain("/assets/app-1a2b.js");
  });

  it("serves hashed assets as immutable, gzipped when asked, and answers 304 to a matching ETag", async () => {
    const response = await fetch(`${base}/assets/app-1a2b.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(response.headers.get("content-encoding")).toBe("gzip");
    expect(await response.text()).toBe(script);
    const etag = response.headers.get("etag")!;
    const again = await fetch(`${base}/assets/app-1a2b.js`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    const plain = await fetch(`${base}/robots.txt`);
    expect(plain.headers.get("cache-control")).toBe("no-cache");
    expect(plain.headers.get("content-encoding")).toBeNull();
  });

  it("answers a missing asset with 404, not the app", async () => {
    const response = await fetch(`${base}/assets/gone-9z.js`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe("not found\n");
  });

  it("falls back to index.html only for browser navigations to app pages", async () => {
    const page = await fetch(`${base}/orders/0190`, { headers: { accept: "text/html,*/*" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const api = await fetch(`${base}/orders/0190`, { headers: { accept: "application/json" } });
    expect(api.status).toBe(404);
    const file = await fetch(`${base}/missing.png`, { headers: { accept: "text/html" } });
    expect(file.status).toBe(404);
  });

  it("never takes API paths, non-GET methods or gRPC requests", async () => {
    const get = await fetch(`${base}${apiPath}?connect=v1`, { headers: { accept: "text/html" } });
    expect(await get.text()).toBe('{"code":"unimplemented"}');
    const post = await fetch(`${base}/`, { method: "POST", body: "{}" });
    expect(post.status).toBe(404);
    const grpc = await fetch(`${base}/`, { headers: { "content-type": "application/grpc" } });
    expect(grpc.status).toBe(404);
    const jwks = await fetch(`${base}/.well-known/jwks.json`, { headers: { accept: "text/html" } });
    expect(jwks.status).toBe(404);
  });

  it("is off when the folder has no build", () => {
    const empty = mkdtempSync(join(tmpdir(), "mercato-static-empty-"));
    try {
      expect(loadStaticSite(empty, () => false, logger)).toBeUndefined();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
