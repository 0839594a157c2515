import { existsSync } from "node:fs";
import { connect, type NatsConnection, StorageType, StringCodec } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNats, testNatsUrl, uniqueName, waitFor } from "./index.js";

const sc = StringCodec();

describe("shared nats-server", () => {
  it("has JetStream", async () => {
    const nc = await connect({ servers: testNatsUrl() });
    try {
      const stream = uniqueName("SHARED");
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File });
      const ack = await nc.jetstream().publish(`${stream}.hello`, sc.encode("hi"));
      expect(ack.stream).toBe(stream);
      const msg = await jsm.streams.getMessage(stream, { seq: ack.seq });
      expect(sc.decode(msg.data)).toBe("hi");
      await jsm.streams.delete(stream);
    } finally {
      await nc.close();
    }
  });
});

describe("startNats", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNats();
    nc = await connect({
      servers: server.url,
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
      timeout: 2000,
    });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
    if (server) expect(existsSync(server.storeDir)).toBe(false);
  });

  it("keeps an acknowledged message across a crash (SIGKILL) and restart", async () => {
    const stream = uniqueName("DURABLE");
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File });
    const ack = await nc.jetstream().publish(`${stream}.order`, sc.encode("placed"));
    const oldPid = server.pid;
    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === "reconnect") return;
    })();

    await server.kill();
    await server.restart();
    expect(server.pid).not.toBe(oldPid);
    await reconnected;

    // A request sent while the client was still disconnected can be lost: retry with a short timeout.
    const jsmAfter = await nc.jetstreamManager({ timeout: 1000 });
    let data = "";
    await waitFor(
      async () => {
        const msg = await jsmAfter.streams.getMessage(stream, { seq: ack.seq });
        data = sc.decode(msg.data);
        return true;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: "the message after restart" },
    );
    expect(data).toBe("placed");
  });

  it("pause() freezes the server and resume() brings it back", async () => {
    const subject = uniqueName("ping");
    const sub = nc.subscribe(subject, { callback: (_err, m) => m.respond(sc.encode("pong")) });
    await nc.flush();
    server.pause();
    try {
      await expect(nc.request(subject, sc.encode("ping"), { timeout: 300 })).rejects.toThrow();
    } finally {
      server.resume();
    }
    const reply = await nc.request(subject, sc.encode("ping"), { timeout: 5000 });
    expect(sc.decode(reply.data)).toBe("pong");
    sub.unsubscribe();
  });
});
