/**
 * The admin HTTP port every process exposes: `/healthz` (the process is alive), `/readyz` (it
 * takes traffic; 503 otherwise) and `/metrics` (Prometheus text from the process registry).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log/index.js";
import { metricsRegistry } from "../metrics/index.js";

/** Options for {@link startAdminServer}. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 lets the OS choose. */
  readonly port: number;
  /** Answers /readyz. */
  readonly isReady: () => boolean;
  readonly logger: Logger;
}

/** A running admin server. */
export interface AdminServer {
  /** The port it listens on. */
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** Starts the admin HTTP server; rejects when it cannot bind. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ready = options.isReady();
      response
        .writeHead(ready ? 200 : 503, { "content-type": "text/plain" })
        .end(ready ? "ready\n" : "not ready\n");
    } else if (path === "/metrics") {
      metricsRegistry.metrics().then(
        (text) => response.writeHead(200, { "content-type": metricsRegistry.contentType }).end(text),
        (error: unknown) => {
          options.logger.error({ err: error }, "metrics collection failed");
          response.writeHead(500).end();
        },
      );
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
