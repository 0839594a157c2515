import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "./index.js";

let echo: Server;
let echoPort: number;

beforeAll(async () => {
  echo = createServer((s) => {
    s.on("error", () => {}); // resetAll() resets the upstream side too
    s.pipe(s);
  });
  echo.listen(0, "127.0.0.1");
  await once(echo, "listening");
  const addr = echo.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  echoPort = addr.port;
});

afterAll(async () => {
  await new Promise((resolve) => echo.close(resolve));
});

async function dial(proxy: TcpProxy): Promise<Socket> {
  const s = connect({ host: "127.0.0.1", port: proxy.port });
  await once(s, "connect");
  return s;
}

/** Sends `text` and resolves with the echo and the round-trip time, or `undefined` after `timeoutMs`. */
function roundTrip(
  s: Socket,
  text: string,
  timeoutMs = 2000,
): Promise<{ data: string; ms: number } | undefined> {
  return new Promise((resolve) => {
    const start = performance.now();
    let buf = "";
    const timer = setTimeout(() => {
      s.off("data", onData);
      resolve(undefined);
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (buf.length >= text.length) {
        clearTimeout(timer);
        s.off("data", onData);
        resolve({ data: buf, ms: performance.now() - start });
      }
    };
    s.on("data", onData);
    s.write(text);
  });
}

describe("startTcpProxy", () => {
  it("forwards, and adds latency in both directions", async () => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: echoPort });
    try {
      expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
      const s = await dial(proxy);
      const fast = await roundTrip(s, "hello");
      expect(fast?.data).toBe("hello");
      proxy.setLatency(150);
      const slow = await roundTrip(s, "world");
      expect(slow?.data).toBe("world");
      expect(slow?.ms).toBeGreaterThanOrEqual(280);
      proxy.setLatency(0);
      s.destroy();
    } finally {
      await proxy.close();
    }
  });

  it("blackholes existing and new connections, then delivers the held data", async () => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: echoPort });
    try {
      const s = await dial(proxy);
      expect((await roundTrip(s, "before"))?.data).toBe("before");
      proxy.blackhole(true);
      expect(await roundTrip(s, "during", 300)).toBeUndefined();
      const late = await dial(proxy); // accepted, but goes nowhere
      expect(await roundTrip(late, "new", 300)).toBeUndefined();

      const healed = new Promise<string>((resolve) => {
        let buf = "";
        s.on("data", (d: Buffer) => {
          buf += d.toString();
          if (buf === "during") resolve(buf);
        });
      });
      const lateHealed = new Promise<string>((resolve) =>
        late.once("data", (d: Buffer) => resolve(d.toString())),
      );
      proxy.blackhole(false);
      expect(await healed).toBe("during");
      expect(await lateHealed).toBe("new");
      s.destroy();
      late.destroy();
    } finally {
      await proxy.close();
    }
  });

  it("resetAll() resets open connections but accepts new ones", async () => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: echoPort });
    try {
      const s = await dial(proxy);
      expect((await roundTrip(s, "x"))?.data).toBe("x");
      const closed = new Promise<string | undefined>((resolve) => {
        s.on("error", (err: NodeJS.ErrnoException) => resolve(err.code));
        s.on("close", () => resolve(undefined));
      });
      proxy.resetAll();
      expect(await closed).toBe("ECONNRESET");
      const again = await dial(proxy);
      expect((await roundTrip(again, "y"))?.data).toBe("y");
      again.destroy();
    } finally {
      await proxy.close();
    }
  });
});
