import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterEach, expect, it } from "vitest";
import { freePort } from "./names.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", () => resolve(srv));
  });
}

it("hands out distinct ports below the ephemeral range that can be listened on", async () => {
  const [ephemeralLow] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
  const ports: number[] = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  expect(new Set(ports).size).toBe(ports.length);
  for (const port of ports) expect(port).toBeLessThan(Number(ephemeralLow));
  for (const port of ports.slice(0, 5)) servers.push(await listen(port));
});

it("skips a port something already listens on", async () => {
  const first = await freePort();
  const second = await freePort();
  // The next port in turn is taken by someone else before we ask: freePort must pass it by.
  const taken = second + 1;
  const blocker = await listen(taken).catch(() => undefined); // already in use elsewhere: just as good
  if (blocker) servers.push(blocker);
  const next = await freePort();
  expect(next).not.toBe(taken);
  expect([first, second]).not.toContain(next);
  servers.push(await listen(next));
});
