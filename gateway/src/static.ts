/**
 * The storefront's built files (web/dist), served by the edge next to the API:
 *
 * - only GET and HEAD, and never for an API path (a route, `/.well-known/…`) or a gRPC request;
 * - hashed files under `/assets/` are cached for a year as immutable; everything else (index.html)
 *   is `no-cache`, revalidated with its ETag, so a new build shows on the next load;
 * - a page path the app routes itself (`/orders/…`) gets index.html, but only for a browser
 *   navigation (`Accept: text/html`), so API clients keep their JSON 404s;
 * - a strict Content-Security-Policy: scripts, styles and calls only from this origin, no inline
 *   code, no framing.
 *
 * Files are read once at start-up (a build is small); gzip copies are made for compressible ones.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join, relative, sep } from "node:path";
import { gzipSync } from "node:zlib";
import type { Logger } from "@mercato/platform/log";
import type { EdgeRequest, EdgeResponse } from "./edge.js";

/** The policy sent with every page and file. */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const immutable = "public, max-age=31536000, immutable";
const revalidate = "no-cache";

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

const compressible = new Set([".html", ".js", ".css", ".json", ".svg", ".txt", ".map"]);

interface StaticFile {
  readonly body: Buffer;
  readonly gzipped: Buffer | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly etag: string;
}

/** Serves the storefront; `serve` answers true when it took the request. */
export interface StaticSite {
  serve(req: EdgeRequest, res: EdgeResponse): boolean;
  /** Number of files loaded. */
  readonly files: number;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

function load(root: string, path: string): StaticFile {
  const body = readFileSync(path);
  const extension = extname(path);
  const urlPath = `/${relative(root, path).split(sep).join("/")}`;
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  return {
    body,
    gzipped: compressible.has(extension) && body.length > 1024 ? gzipSync(body) : undefined,
    etag,
    headers: {
      "content-type": contentTypes[extension] ?? "application/octet-stream",
      "cache-control": urlPath.startsWith("/assets/") ? immutable : revalidate,
      etag,
      "content-security-policy": contentSecurityPolicy,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-resource-policy": "same-origin",
      vary: "Accept-Encoding",
    },
  };
}

function header(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(",") : (value ?? "");
}

/**
 * Loads the site in `root` (a Vite build with index.html), or returns undefined when there is none.
 * `isApiPath` tells which paths belong to the API and are never served from here.
 */
export function loadStaticSite(
  root: string,
  isApiPath: (path: string) => boolean,
  logger: Logger,
): StaticSite | undefined {
  if (!existsSync(join(root, "index.html")) || !statSync(root).isDirectory()) {
    logger.info({ root }, "no storefront build found: serving the API only");
    return undefined;
  }
  const files = new Map<string, StaticFile>();
  for (const path of walk(root)) files.set(`/${relative(root, path).split(sep).join("/")}`, load(root, path));
  const index = files.get("/index.html")!;
  logger.info({ root, files: files.size }, "serving the storefront");

  const send = (req: EdgeRequest, res: EdgeResponse, file: StaticFile) => {
    const response = res as ServerResponse;
    if (header(req.headers["if-none-match"]) === file.etag) {
      response.writeHead(304, { etag: file.etag, "cache-control": file.headers["cache-control"]! });
      response.end();
      return;
    }
    const gzip = file.gzipped !== undefined && /\bgzip\b/.test(header(req.headers["accept-encoding"]));
    const body = gzip ? file.gzipped! : file.body;
    response.writeHead(200, {
      ...file.headers,
      ...(gzip ? { "content-encoding": "gzip" } : {}),
      "content-length": String(body.length),
    });
    response.end(req.method === "HEAD" ? undefined : body);
  };

  return {
    files: files.size,
    serve(req, res) {
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      if (header(req.headers["content-type"]).startsWith("application/grpc")) return false;
      const url = req.url ?? "/";
      const queryAt = url.indexOf("?");
      const path = queryAt === -1 ? url : url.slice(0, queryAt);
      if (isApiPath(path) || path.startsWith("/.well-known/")) return false;
      const file = files.get(path === "/" ? "/index.html" : path);
      if (file !== undefined) {
        send(req, res, file);
        return true;
      }
      if (path.startsWith("/assets/")) {
        (res as ServerResponse).writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("not found\n");
        return true;
      }
      // A page of the app: only browser navigations, and only paths without a file extension.
      if (header(req.headers.accept).includes("text/html") && extname(path) === "") {
        send(req, res, index);
        return true;
      }
      return false;
    },
  };
}
