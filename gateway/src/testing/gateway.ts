/**
 * Starts a gateway in front of the test doubles, with configuration overrides, for the hardening
 * tests (each file starts its own, so their limits and clocks never interfere).
 */
import { connect as netConnect } from "node:net";
import { createLogger, type Logger } from "@mercato/platform/log";
import { freePort } from "@mercato/testing";
import { loadGatewayConfig } from "../config.js";
import { buildGateway, type Gateway } from "../server.js";
import type { TestUpstreams } from "./upstreams.js";

export interface TestGateway {
  readonly gateway: Gateway;
  /** `http://127.0.0.1:PORT` of the public port. */
  readonly base: string;
  readonly port: number;
  readonly adminBase: string;
  stop(): Promise<void>;
}

export async function startTestGateway(
  upstreams: TestUpstreams,
  env: Readonly<Record<string, string>> = {},
  logger: Logger = createLogger({ service: "gateway-test", level: "silent" }),
): Promise<TestGateway> {
  const config = loadGatewayConfig({
    PORT: "0",
    ADMIN_PORT: "0",
    IDENTITY_ADDRESS: upstreams.identityAddress,
    CATALOG_ADDRESS: upstreams.catalogAddress,
    INVENTORY_ADDRESS: `127.0.0.1:${await freePort()}`,
    ...env,
  });
  const gateway = buildGateway({
    config,
    logger,
    jwksMinRefreshGapMs: 0,
  });
  const { port, adminPort } = await gateway.start();
  return {
    gateway,
    base: `http://127.0.0.1:${port}`,
    port,
    adminBase: `http://127.0.0.1:${adminPort}`,
    stop: () => gateway.stop(),
  };
}

/** POSTs Connect JSON. */
export function postJson(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Opens a raw TCP connection, sends `write(socket)`, and resolves when the server closes it. */
export function rawExchange(
  port: number,
  send: (write: (data: string | Buffer) => void) => void,
  giveUpMs = 5_000,
): Promise<{ response: string; closedAfterMs: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = netConnect(port, "127.0.0.1");
    let response = "";
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closedAfterMs: Date.now() - started, closedByServer });
    };
    const timer = setTimeout(() => finish(false), giveUpMs);
    socket.on("data", (chunk: Buffer) => {
      response += chunk.toString("latin1");
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("connect", () =>
      send((data) => {
        if (!socket.destroyed) socket.write(data);
      }),
    );
  });
}
