/**
 * Which IP addresses an outbound request to a user-given URL may reach. Only public unicast addresses
 * are allowed: everything in IANA's special-purpose registries (loopback, private, shared, link-local,
 * unique-local, multicast, unspecified, documentation, benchmarking, reserved) is refused, and an IPv6
 * address that carries an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is judged by that
 * IPv4 address or refused.
 */
import { isIPv4, isIPv6 } from "node:net";

/** A parsed address: 4 or 16 bytes. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** A network: the address's first `prefix` bits. */
interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** Parses a dotted-quad IPv4 address (the canonical form only: `net.isIPv4`). */
function parseIPv4(text: string): Uint8Array | undefined {
  if (!isIPv4(text)) return undefined;
  return Uint8Array.from(text.split(".").map(Number));
}

/** Parses an IPv6 address (with `::` and an IPv4 tail; no zone id) into 16 bytes. */
function parseIPv6(text: string): Uint8Array | undefined {
  if (!isIPv6(text) || text.includes("%")) return undefined;
  let groups: number[] = [];
  const expand = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const v4 = parseIPv4(piece);
        if (!v4) return [Number.NaN];
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const gap = text.indexOf("::");
  if (gap >= 0) {
    const head = expand(text.slice(0, gap));
    const tail = expand(text.slice(gap + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = expand(text);
  }
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff))
    return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * Parses an IP address literal: dotted-quad IPv4, or IPv6 with or without brackets. Other IPv4
 * notations (decimal, hex, octal, short) are not addresses here: URL parsing turns them into dotted
 * quads first (see {@link hostOf}), and a resolver answers in canonical form.
 */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIPv4(bare);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(bare);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** Parses `a.b.c.d/n` or `x::/n`. */
export function parseCidr(text: string): Cidr {
  const [address, bits] = text.split("/");
  const parsed = address === undefined ? undefined : parseIp(address);
  const max = parsed?.family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!parsed || !Number.isInteger(prefix) || prefix < 0 || prefix > max || !/^\d*$/.test(bits ?? "")) {
    throw new Error(`not a CIDR: ${text}`);
  }
  return { family: parsed.family, bytes: parsed.bytes, prefix };
}

function inCidr(address: IpAddress, cidr: Cidr): boolean {
  if (address.family !== cidr.family) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> (bit % 8);
    const byte = Math.floor(bit / 8);
    if ((address.bytes[byte]! & mask) !== (cidr.bytes[byte]! & mask)) return false;
  }
  return true;
}

/** IPv4 networks no user-given URL may reach, with the reason (IANA IPv4 special-purpose registry). */
const blockedIPv4: readonly [Cidr, string][] = (
  [
    ["0.0.0.0/8", "unspecified"],
    ["10.0.0.0/8", "private"],
    ["100.64.0.0/10", "shared (carrier-grade NAT)"],
    ["127.0.0.0/8", "loopback"],
    ["169.254.0.0/16", "link-local"],
    ["172.16.0.0/12", "private"],
    ["192.0.0.0/24", "IETF protocol assignments"],
    ["192.0.2.0/24", "documentation"],
    ["192.88.99.0/24", "6to4 relay"],
    ["192.168.0.0/16", "private"],
    ["198.18.0.0/15", "benchmarking"],
    ["198.51.100.0/24", "documentation"],
    ["203.0.113.0/24", "documentation"],
    ["224.0.0.0/4", "multicast"],
    ["240.0.0.0/4", "reserved"],
  ] as const
).map(([cidr, reason]) => [parseCidr(cidr), reason]);

const globalUnicast6 = parseCidr("2000::/3");
/** IPv6 networks inside 2000::/3 that are not public unicast. */
const blockedIPv6: readonly [Cidr, string][] = (
  [
    ["2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)"],
    ["2001:db8::/32", "documentation"],
    ["2002::/16", "6to4 (carries an IPv4 address)"],
    ["3fff::/20", "documentation"],
  ] as const
).map(([cidr, reason]) => [parseCidr(cidr), reason]);
const v4Mapped = parseCidr("::ffff:0:0/96");
const named6: readonly [Cidr, string][] = (
  [
    ["::/128", "unspecified"],
    ["::1/128", "loopback"],
    ["fe80::/10", "link-local"],
    ["fc00::/7", "unique-local"],
    ["ff00::/8", "multicast"],
    ["64:ff9b::/96", "NAT64 (carries an IPv4 address)"],
    ["::/96", "IPv4-compatible (deprecated)"],
  ] as const
).map(([cidr, reason]) => [parseCidr(cidr), reason]);

/**
 * Why `address` is not a public unicast address, or undefined when it is. An IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`) is judged as the IPv4 address it maps.
 */
export function nonPublicReason(address: IpAddress): string | undefined {
  if (address.family === 4) return blockedIPv4.find(([cidr]) => inCidr(address, cidr))?.[1];
  if (inCidr(address, v4Mapped)) {
    const reason = nonPublicReason({ family: 4, bytes: address.bytes.slice(12) });
    return reason === undefined ? undefined : `IPv4-mapped ${reason}`;
  }
  const named = named6.find(([cidr]) => inCidr(address, cidr));
  if (named) return named[1];
  if (!inCidr(address, globalUnicast6)) return "reserved";
  return blockedIPv6.find(([cidr]) => inCidr(address, cidr))?.[1];
}

/** True when `address` lies in one of `networks`. */
export function inNetworks(address: IpAddress, networks: readonly Cidr[]): boolean {
  return networks.some((cidr) => inCidr(address, cidr));
}

/** The canonical text of an address (dotted quad, or RFC 5952-ish compressed IPv6 without brackets). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) return [...address.bytes].join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((address.bytes[i]! << 8) | address.bytes[i + 1]!);
  // new URL normalises IPv6 hosts (longest zero run compressed, lower case).
  return new URL(`http://[${groups.map((g) => g.toString(16)).join(":")}]/`).hostname.slice(1, -1);
}

/**
 * The host of a URL as a WHATWG URL parser leaves it (brackets removed): for http and https every
 * IPv4 notation a resolver would accept — `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1` — is
 * already the dotted quad `127.0.0.1`, and IPv6 is compressed and lower case.
 */
export function hostOf(url: URL): string {
  const host = url.hostname;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
