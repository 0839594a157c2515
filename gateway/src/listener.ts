/**
 * The edge's public port: one TCP listener speaking HTTP/1.1 and h2c (the HTTP/2 connection preface is
 * sniffed on each new connection), the two HTTP servers with their bounds on slow clients, requests
 * the HTTP parser refuses answered with a fixed Connect error, and every connection kept so that a
 * stop can drain them.
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import type { Logger } from "@mercato/platform/log";
import type { GatewayConfig } from "./config.js";
import { closeInStages } from "./connection.js";
import type { EdgeRequest, EdgeResponse } from "./edge.js";

/** The public port of a gateway. */
export interface PublicPort {
  /** Listens on `port` (0: any) of `host`; resolves with the port bound. */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting; idle HTTP/1.1 connections close, HTTP/2 sessions are asked to close. */
  drain(): void;
  /** Closes every connection still open. */
  close(): void;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * The HTTP/1.1 server. Slow clients are bounded: the headers must arrive within headersTimeout, the
 * whole request within requestTimeout (Node answers 408 and closes), an idle keep-alive connection is
 * closed after keepAliveTimeout; the timeouts are checked often enough to matter.
 */
function createHttp1(
  config: GatewayConfig,
  handler: (req: EdgeRequest, res: EdgeResponse) => void,
): HttpServer {
  const http1 = createHttpServer(
    {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(config.headersTimeoutMs / 4))),
    },
    handler,
  );
  // Malformed or oversized requests the HTTP parser refuses: a status and a fixed error, no banner.
  http1.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    // A fixed Connect error body, so a Connect client reads a code rather than "unknown" for a status.
    const [status, body] =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? ["408 Request Timeout", '{"code":"deadline_exceeded","message":"request not received in time"}']
        : error.code === "HPE_HEADER_OVERFLOW"
          ? [
              "431 Request Header Fields Too Large",
              '{"code":"resource_exhausted","message":"request headers too large"}',
            ]
          : ["400 Bad Request", '{"code":"invalid_argument","message":"malformed HTTP request"}'];
    socket.write(
      `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nx-content-type-options: nosniff\r\n\r\n${body}`,
    );
    // The client may still be sending (the rest of oversized headers, a body): closed in stages, or
    // the reset would erase the answer before the client reads it.
    closeInStages(socket, config.requestTimeoutMs);
  });
  return http1;
}

/** Builds the public port around `handler`; nothing listens until `listen`. */
export function createPublicPort(
  config: GatewayConfig,
  logger: Logger,
  handler: (req: EdgeRequest, res: EdgeResponse) => void,
): PublicPort {
  const http1 = createHttp1(config, handler);
  const http2 = createHttp2Server({ settings: { maxConcurrentStreams: 1000 } }, handler);
  const sessions = new Set<Http2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", (error) => logger.debug({ err: error }, "HTTP/2 session error"));
    // A session without a frame for this long is closed (and cut shortly after if it lingers).
    session.setTimeout(config.http2IdleTimeoutMs, () => {
      session.close();
      setTimeout(() => session.destroy(), 1_000).unref();
    });
  });

  const sockets = new Set<Socket>();
  // noDelay: the HTTP servers never see the connection event that would set it (they do not listen).
  const listener = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const silent = () => socket.destroy();
    socket.setTimeout(config.headersTimeoutMs, silent);
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, h2Preface.length);
      const isHttp2 = head.subarray(0, n).equals(h2Preface.subarray(0, n));
      if (isHttp2 && head.length < h2Preface.length) return; // wait for the whole preface
      socket.off("data", onData);
      socket.pause();
      socket.setTimeout(0);
      socket.off("timeout", silent); // the HTTP servers set their own timeouts on this socket
      socket.unshift(head);
      if (isHttp2) {
        // The HTTP/2 session reads the unshifted bytes itself; the socket must stay paused.
        http2.emit("connection", socket);
      } else {
        http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });

  return {
    async listen(port, host) {
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(port, host, () => {
          listener.off("error", reject);
          resolve();
        });
      });
      // The HTTP/1.1 server never listens itself; this starts its request and header timeouts.
      http1.emit("listening");
      return (listener.address() as AddressInfo).port;
    },
    drain() {
      listener.close();
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
    },
    close() {
      http1.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
