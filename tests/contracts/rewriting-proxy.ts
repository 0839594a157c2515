/**
 * An HTTP proxy in front of the edge that can rewrite JSON responses: stands in for a change to the
 * edge (a renamed field, say) without editing it, to show what verification says about such a change.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

/** A running proxy. */
export interface RewritingProxy {
  readonly url: string;
  /** Rewrites the JSON body of responses to `path` while set; undefined passes everything through. */
  rewrite: ((path: string, body: unknown) => unknown) | undefined;
  close(): Promise<void>;
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts a proxy on 127.0.0.1 forwarding every request to `target` (an http:// URL). */
export async function startRewritingProxy(target: string): Promise<RewritingProxy> {
  const proxy: RewritingProxy = { url: "", rewrite: undefined, close: async () => undefined };
  const server = createServer(async (request, response) => {
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (name !== "host" && name !== "connection" && typeof value === "string") headers.set(name, value);
      }
      const method = request.method ?? "GET";
      const body = method === "GET" || method === "HEAD" ? undefined : new Uint8Array(await bodyOf(request));
      const upstream = await fetch(`${target}${request.url ?? "/"}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      let payload = Buffer.from(await upstream.arrayBuffer());
      const path = new URL(request.url ?? "/", target).pathname;
      const rewrite = proxy.rewrite;
      if (rewrite && upstream.headers.get("content-type")?.startsWith("application/json")) {
        payload = Buffer.from(JSON.stringify(rewrite(path, JSON.parse(payload.toString("utf8")))));
      }
      const out: Record<string, string> = {};
      upstream.headers.forEach((value, name) => {
        // fetch has decoded the body; the length may have changed with the rewrite.
        if (name !== "content-length" && name !== "content-encoding" && name !== "transfer-encoding") {
          out[name] = value;
        }
      });
      response.writeHead(upstream.status, out).end(payload);
    } catch (error) {
      response.writeHead(502).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
