import { connect, createServer, type Server, type Socket } from "node:net";

/** A fault-injecting TCP proxy started by {@link startTcpProxy}. */
export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `"127.0.0.1:PORT"`, ready for gRPC targets and `host:port` settings. */
  readonly address: string;
  /** Connections currently open through the proxy. */
  readonly connectionCount: number;
  /** Delays every chunk by `ms` in each direction (a round trip gains 2 × `ms`); 0 turns it off. */
  setLatency(ms: number): void;
  /**
   * While on, connections are still accepted but nothing is forwarded either way: data is held (as a
   * network partition holds TCP segments) and delivered in order once it is turned off again. New
   * connections reach the target only after it is turned off.
   */
  blackhole(on: boolean): void;
  /** Resets (TCP RST) every current connection on both sides; new connections still work. */
  resetAll(): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface State {
  latencyMs: number;
  blackholed: boolean;
}

/** One direction of a connection: a queue of chunks each released at its due time. */
class Pipe {
  private readonly queue: { due: number; data: Buffer | null }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly state: State,
    private readonly dest: () => Socket | undefined,
  ) {}

  push(data: Buffer | null): void {
    const last = this.queue.at(-1)?.due ?? 0;
    this.queue.push({ due: Math.max(Date.now() + this.state.latencyMs, last), data });
    this.pump();
  }

  pump(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const dest = this.dest();
    if (this.state.blackholed || dest === undefined || dest.destroyed) return;
    const now = Date.now();
    for (let item = this.queue[0]; item !== undefined && item.due <= now; item = this.queue[0]) {
      this.queue.shift();
      if (item.data === null) dest.end();
      else dest.write(item.data);
    }
    const next = this.queue[0];
    if (next !== undefined) this.timer = setTimeout(() => this.pump(), next.due - now);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

class Connection {
  upstream: Socket | undefined;
  readonly toUpstream: Pipe;
  readonly toClient: Pipe;

  constructor(
    readonly client: Socket,
    private readonly target: { host: string; port: number },
    state: State,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.toUpstream = new Pipe(state, () => this.upstream);
    this.toClient = new Pipe(state, () => this.client);
    client.on("data", (d: Buffer) => this.toUpstream.push(d));
    client.on("end", () => this.toUpstream.push(null));
    client.on("error", () => this.destroy());
    client.on("close", () => this.destroy());
    if (state.blackholed) client.pause();
    else this.open();
  }

  /** Connects to the target (deferred while blackholed). */
  open(): void {
    if (this.upstream !== undefined || this.client.destroyed) return;
    const up = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    this.upstream = up;
    up.setNoDelay(true);
    up.on("connect", () => this.toUpstream.pump());
    up.on("data", (d: Buffer) => this.toClient.push(d));
    up.on("end", () => this.toClient.push(null));
    up.on("error", () => this.destroy());
    up.on("close", () => this.destroy());
    this.toUpstream.pump();
  }

  setBlackholed(on: boolean): void {
    if (on) {
      this.client.pause();
      this.upstream?.pause();
      return;
    }
    this.open();
    this.client.resume();
    this.upstream?.resume();
    this.toUpstream.pump();
    this.toClient.pump();
  }

  reset(): void {
    this.toUpstream.clear();
    this.toClient.clear();
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (this.upstream !== undefined && !this.upstream.destroyed) this.upstream.resetAndDestroy();
    this.onGone(this);
  }

  destroy(): void {
    this.toUpstream.clear();
    this.toClient.clear();
    this.client.destroy();
    this.upstream?.destroy();
    this.onGone(this);
  }
}

/**
 * Starts a TCP proxy on 127.0.0.1 (a free port) forwarding to `target`, for injecting latency,
 * partitions and connection resets in tests (`tc netem` is unavailable on the build machines).
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const state: State = { latencyMs: 0, blackholed: false };
  const conns = new Set<Connection>();
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    conns.add(new Connection(client, target, state, (c) => conns.delete(c)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("startTcpProxy: unexpected address");
  const port = addr.port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    get connectionCount() {
      return conns.size;
    },
    setLatency(ms: number) {
      if (!(ms >= 0)) throw new RangeError(`setLatency: ${ms} is not a non-negative number`);
      state.latencyMs = ms;
    },
    blackhole(on: boolean) {
      if (state.blackholed === on) return;
      state.blackholed = on;
      for (const c of conns) c.setBlackholed(on);
    },
    resetAll() {
      for (const c of [...conns]) c.reset();
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of [...conns]) c.destroy();
      });
    },
  };
}
