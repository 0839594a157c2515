import { connect, createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startTcpBalancer, type TcpBalancer } from "./balancer.js";
import { freePort } from "./names.js";

const servers: Server[] = [];
let balancer: TcpBalancer | undefined;

afterEach(async () => {
  await balancer?.close();
  balancer = undefined;
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A TCP server that answers every connection with its name and closes it. */
async function namedServer(name: string): Promise<string> {
  const server = createServer((socket) => socket.end(name));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `127.0.0.1:${address.port}`;
}

/** Connects through the balancer and reads what the backend says ("" when the connection is dropped). */
function ask(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString();
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", () => resolve(answer));
  });
}

describe("startTcpBalancer", () => {
  it("gives connections to the targets in turn and skips one that refuses", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    balancer = await startTcpBalancer({ targets: [await namedServer("a"), dead, await namedServer("b")] });
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await ask(balancer.port));
    expect(answers.filter((a) => a === "a")).toHaveLength(3);
    expect(answers.filter((a) => a === "b")).toHaveLength(3);
    expect(balancer.connectionsByTarget.get(dead)).toBe(0);
  });

  it("drops the client when every target refuses", async () => {
    balancer = await startTcpBalancer({ targets: [`127.0.0.1:${await freePort()}`] });
    expect(await ask(balancer.port)).toBe("");
  });

  it("refuses a target that is not host:port", async () => {
    await expect(startTcpBalancer({ targets: ["nowhere"] })).rejects.toThrow(/bad balancer target/);
  });
});
