import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOutboundClient,
  DestinationRefused,
  destinationChecker,
  formatIp,
  type Lookup,
  nonPublicReason,
  OutboundFailure,
  parseIp,
  ResolutionUnavailable,
} from "./index.js";

const strict = { allowHttp: false, allowPrivate: false } as const;
const httpAllowed = { allowHttp: true, allowPrivate: false } as const;

/** A resolver that answers from a table (and counts its calls), for names no real DNS knows. */
function tableLookup(table: Record<string, string[]>): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string) => {
    calls.push(hostname);
    const answer = table[hostname];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return answer.map((address) => ({ address, family: (address.includes(":") ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(lookup, { calls });
}

describe("the destination check refuses every non-public address, in every notation", () => {
  const check = destinationChecker(httpAllowed);
  const inward = [
    "http://127.0.0.1/",
    "http://127.0.0.1:5433/",
    "http://localhost/",
    "http://localhost./",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7F.0x0.0x0.0x1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://127.000.000.001/",
    "http://127.0.0.1./",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::ffff:127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:7f00:0001]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[fd00::1]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
  ];

  it.each(inward)("%s", async (url) => {
    const refusal = await check(url).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(DestinationRefused);
    expect((refusal as DestinationRefused).message).toBe(
      "must name a host that resolves only to public internet addresses",
    );
  });

  it("refuses a name that resolves to a private address, or to a public and a private one", async () => {
    const lookup = tableLookup({
      "internal.example": ["10.1.2.3"],
      "mixed.example": ["93.184.215.14", "192.168.1.10"],
      "mapped.example": ["::ffff:10.0.0.1"],
    });
    const guarded = destinationChecker(httpAllowed, lookup);
    for (const host of ["internal.example", "mixed.example", "mapped.example", "nowhere.example"]) {
      await expect(guarded(`https://${host}/hook`)).rejects.toMatchObject({
        message: "must name a host that resolves only to public internet addresses",
      });
    }
  });

  it("says a resolver that fails for now is unavailable, not refused", async () => {
    const guarded = destinationChecker(strict, async () => {
      throw Object.assign(new Error("getaddrinfo EAI_AGAIN hooks.example"), { code: "EAI_AGAIN" });
    });
    await expect(guarded("https://hooks.example/")).rejects.toBeInstanceOf(ResolutionUnavailable);
  });

  it("accepts public addresses, literal or resolved, and names the one to connect to", async () => {
    const guarded = destinationChecker(strict, tableLookup({ "hooks.example": ["93.184.215.14"] }));
    await expect(guarded("https://hooks.example:8443/in?x=1")).resolves.toMatchObject({
      hostname: "hooks.example",
      address: "93.184.215.14",
      family: 4,
      port: 8443,
    });
    await expect(guarded("https://[2606:4700:4700::1111]/")).resolves.toMatchObject({
      hostname: "",
      address: "2606:4700:4700::1111",
      family: 6,
      port: 443,
    });
    await expect(guarded("https://8.8.8.8/")).resolves.toMatchObject({ address: "8.8.8.8" });
  });

  it("allows only https by default, never credentials, and http only when the policy says so", async () => {
    const lookup = tableLookup({ "hooks.example": ["93.184.215.14"] });
    await expect(destinationChecker(strict, lookup)("http://hooks.example/")).rejects.toMatchObject({
      kind: "scheme",
      message: "must use https",
    });
    await expect(destinationChecker(httpAllowed, lookup)("http://hooks.example/")).resolves.toBeDefined();
    await expect(destinationChecker(strict, lookup)("https://u:p@hooks.example/")).rejects.toMatchObject({
      kind: "credentials",
    });
    await expect(destinationChecker(strict, lookup)("ftp://hooks.example/")).rejects.toMatchObject({
      kind: "scheme",
    });
    await expect(destinationChecker(strict, lookup)("not a url")).rejects.toMatchObject({ kind: "url" });
  });

  it("lets private addresses through only when the policy allows them", async () => {
    await expect(
      destinationChecker({ allowHttp: true, allowPrivate: true })("http://127.0.0.1:9/"),
    ).resolves.toMatchObject({ address: "127.0.0.1" });
    const subnet = destinationChecker({
      allowHttp: true,
      allowPrivate: false,
      allowedNetworks: ["10.20.0.0/16"],
    });
    await expect(subnet("http://10.20.1.1/")).resolves.toBeDefined();
    await expect(subnet("http://10.21.1.1/")).rejects.toBeInstanceOf(DestinationRefused);
  });

  it("classifies addresses by IANA's special-purpose registries", () => {
    const reason = (text: string) => nonPublicReason(parseIp(text)!);
    expect(reason("127.255.0.1")).toBe("loopback");
    expect(reason("::ffff:127.0.0.1")).toBe("IPv4-mapped loopback");
    expect(reason("::ffff:8.8.8.8")).toBeUndefined();
    expect(reason("172.32.0.1")).toBeUndefined();
    expect(reason("4000::1")).toBe("reserved");
    expect(reason("2a00:1450:4001::1")).toBeUndefined();
    expect(formatIp(parseIp("0:0:0:0:0:ffff:7f00:1")!)).toBe("::ffff:7f00:1");
    expect(parseIp("0177.0.0.1")).toBeUndefined(); // only canonical forms are addresses here
    expect(parseIp("fe80::1%eth0")).toBeUndefined();
  });
});

/** An HTTP server on `host` recording what reached it. */
async function receiver(
  host: string,
  port: number,
  answer: (req: IncomingMessage, res: import("node:http").ServerResponse) => void = (_, res) => res.end("ok"),
): Promise<{ server: Server; port: number; seen: { host: string | undefined; path: string | undefined }[] }> {
  const seen: { host: string | undefined; path: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ host: req.headers.host, path: req.url });
    req.resume();
    req.on("end", () => answer(req, res));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port, seen };
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe("the guarded client", () => {
  // 127.0.0.2 stands in for a public receiver (an allowed network); 127.0.0.1 is the inside.
  const policy = { allowHttp: true, allowPrivate: false, allowedNetworks: ["127.0.0.2/32"] } as const;
  let outside: Awaited<ReturnType<typeof receiver>>;
  let inside: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    for (let attempt = 0; ; attempt++) {
      outside = await receiver("127.0.0.2", 0);
      try {
        inside = await receiver("127.0.0.1", outside.port);
        break;
      } catch (error) {
        await close(outside.server);
        if (attempt > 20) throw error;
      }
    }
  });

  afterAll(async () => {
    await close(outside.server);
    await close(inside.server);
  });

  it("connects to the address it checked: a resolver that answers differently the second time (DNS rebinding) is never asked again", async () => {
    const answers = ["127.0.0.2", "127.0.0.1"];
    const calls: string[] = [];
    const rebinding: Lookup = async (hostname) => {
      calls.push(hostname);
      const address = answers[Math.min(calls.length - 1, answers.length - 1)]!;
      return [{ address, family: 4 }];
    };
    const client = createOutboundClient({ policy, lookup: rebinding });
    const outsideBefore = outside.seen.length;
    const insideBefore = inside.seen.length;
    const response = await client.send({
      url: `http://rebind.test:${outside.port}/hook?a=1`,
      timeoutMs: 5_000,
    });
    expect(response).toMatchObject({ status: 200, address: "127.0.0.2", truncated: false });
    expect(response.body.toString()).toBe("ok");
    expect(calls).toEqual(["rebind.test"]); // one lookup per request: the connection used its answer
    expect(outside.seen.slice(outsideBefore)).toEqual([
      { host: `rebind.test:${outside.port}`, path: "/hook?a=1" },
    ]);
    // The next request checks again: the name now points inside, and nothing is sent.
    await expect(
      client.send({ url: `http://rebind.test:${outside.port}/hook`, timeoutMs: 5_000 }),
    ).rejects.toBeInstanceOf(DestinationRefused);
    expect(calls).toHaveLength(2);
    expect(inside.seen.length).toBe(insideBefore);
  });

  it("never follows a redirect, even to an allowed address", async () => {
    const redirecting = await receiver("127.0.0.2", 0, (_, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${inside.port}/internal` }).end();
    });
    try {
      const client = createOutboundClient({ policy });
      const before = inside.seen.length;
      const response = await client.send({ url: `http://127.0.0.2:${redirecting.port}/`, timeoutMs: 5_000 });
      expect(response.status).toBe(307);
      expect(inside.seen.length).toBe(before);
    } finally {
      await close(redirecting.server);
    }
  });

  it("keeps at most maxResponseBytes of the answer and stops reading", async () => {
    const big = await receiver("127.0.0.2", 0, (_, res) => res.end(Buffer.alloc(4 * 1024 * 1024, 97)));
    try {
      const client = createOutboundClient({ policy, maxResponseBytes: 1024 });
      const response = await client.send({ url: `http://127.0.0.2:${big.port}/`, timeoutMs: 5_000 });
      expect(response.status).toBe(200);
      expect(response.body.length).toBe(1024);
      expect(response.truncated).toBe(true);
    } finally {
      await close(big.server);
    }
  });

  it("bounds the whole exchange in time: a receiver that never answers, a resolver that hangs", async () => {
    const silent = await receiver("127.0.0.2", 0, () => undefined);
    try {
      const client = createOutboundClient({ policy });
      const started = Date.now();
      const failure = await client
        .send({ url: `http://127.0.0.2:${silent.port}/`, timeoutMs: 300 })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OutboundFailure);
      expect((failure as OutboundFailure).kind).toBe("timeout");
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      const hanging = createOutboundClient({ policy, lookup: () => new Promise(() => undefined) });
      await expect(hanging.send({ url: "http://slow.test/", timeoutMs: 200 })).rejects.toMatchObject({
        kind: "timeout",
      });
    } finally {
      silent.server.closeAllConnections();
      await close(silent.server);
    }
  });

  it("refuses before connecting when the policy does not allow the target", async () => {
    const client = createOutboundClient({ policy: { allowHttp: false, allowPrivate: false } });
    const before = inside.seen.length;
    await expect(
      client.send({ url: `http://127.0.0.1:${inside.port}/`, timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ kind: "scheme" });
    await expect(
      client.send({ url: `https://127.0.0.1:${inside.port}/`, timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ kind: "address" });
    expect(inside.seen.length).toBe(before);
  });
});

describe("https to a pinned address", () => {
  let dir: string;
  let cert: string;
  let key: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "outbound-tls-"));
    const subject = ["-subj", "/CN=webhook.test", "-addext", "subjectAltName=DNS:webhook.test"];
    const keyOptions = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    const files = ["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")];
    execFileSync("openssl", ["req", "-x509", ...keyOptions, ...files, "-days", "2", ...subject], {
      stdio: "ignore",
    });
    cert = readFileSync(join(dir, "cert.pem"), "utf8");
    key = readFileSync(join(dir, "key.pem"), "utf8");
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("checks the certificate against the name the user gave and sends it as SNI", async () => {
    const names: (string | false | null)[] = [];
    const server = createHttpsServer({ cert, key }, (req, res) => {
      names.push((req.socket as TLSSocket).servername);
      res.end("secure");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", () => resolve()));
    const port = (server.address() as AddressInfo).port;
    try {
      const lookup = tableLookup({ "webhook.test": ["127.0.0.2"], "other.test": ["127.0.0.2"] });
      const client = createOutboundClient({
        policy: { allowHttp: false, allowPrivate: false, allowedNetworks: ["127.0.0.2/32"] },
        lookup,
        tls: { ca: cert },
      });
      const response = await client.send({ url: `https://webhook.test:${port}/`, timeoutMs: 5_000 });
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe("secure");
      expect(names).toEqual(["webhook.test"]);
      // Same address, another name: the certificate does not match, so nothing is sent.
      await expect(
        client.send({ url: `https://other.test:${port}/`, timeoutMs: 5_000 }),
      ).rejects.toMatchObject({
        kind: "connection",
      });
      expect(names).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
