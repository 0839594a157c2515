import { connect, createServer, type Socket } from "node:net";

/** A local TCP load balancer started by {@link startTcpBalancer}. */
export interface TcpBalancer {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Connections each target has been given so far, by `host:port`. */
  readonly connectionsByTarget: ReadonlyMap<string, number>;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/** Options for {@link startTcpBalancer}. */
export interface TcpBalancerOptions {
  /** `host:port` of every backend, e.g. the replicas of the gateway. */
  readonly targets: readonly string[];
  /** Port to listen on (default: any free one). */
  readonly port?: number;
}

function parseTarget(target: string): { host: string; port: number } {
  const index = target.lastIndexOf(":");
  const port = Number(target.slice(index + 1));
  if (index <= 0 || !Number.isInteger(port) || port <= 0) throw new Error(`bad balancer target "${target}"`);
  return { host: target.slice(0, index), port };
}

/**
 * A connection-level (L4) round-robin balancer, the local stand-in for a Kubernetes Service in front of
 * several pods: each new client connection goes to the next target, and a target that refuses the
 * connection (a killed replica) is skipped for the next one. A connection stays on its target for its
 * whole life, as behind kube-proxy, so an HTTP/2 client keeps talking to one replica.
 *
 * @throws when a target is not `host:port` or the port cannot be bound
 */
export async function startTcpBalancer(options: TcpBalancerOptions): Promise<TcpBalancer> {
  const targets = options.targets.map((target) => ({ name: target, ...parseTarget(target) }));
  if (targets.length === 0) throw new Error("startTcpBalancer: no targets");
  const counts = new Map(targets.map((t) => [t.name, 0]));
  const sockets = new Set<Socket>();
  let next = 0;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };

  /** Connects to the targets in turn from the next one, until one accepts or all have refused. */
  const forward = (client: Socket, tried = 0): void => {
    if (client.destroyed) return;
    if (tried >= targets.length) {
      client.destroy();
      return;
    }
    const target = targets[next++ % targets.length] as (typeof targets)[number];
    const upstream = connect({ host: target.host, port: target.port });
    track(upstream);
    upstream.setNoDelay(true);
    const refused = () => forward(client, tried + 1);
    upstream.once("error", refused);
    upstream.once("connect", () => {
      upstream.off("error", refused);
      counts.set(target.name, (counts.get(target.name) ?? 0) + 1);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      upstream.on("error", end);
      upstream.on("close", end);
      client.on("error", end);
      client.on("close", end);
    });
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    client.setNoDelay(true);
    client.on("error", () => client.destroy());
    forward(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("startTcpBalancer: no port");

  return {
    port: address.port,
    connectionsByTarget: counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
