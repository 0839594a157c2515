/**
 * The destination check of the guarded outbound client: a URL given by a user is parsed, its host
 * resolved once, and every address it resolves to judged by the policy. The result names the one
 * address the request then connects to, so a second lookup (DNS rebinding) never happens.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { hostOf, inNetworks, nonPublicReason, parseCidr, parseIp } from "./address.js";

/** One resolved address. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to every address it has (default: the system resolver, `getaddrinfo`). */
export type Lookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** What user-given URLs may reach. */
export interface OutboundPolicy {
  /** Allow `http:` as well as `https:` (local runs and tests only). */
  readonly allowHttp: boolean;
  /** Allow every address, private and loopback included (local runs and tests only). */
  readonly allowPrivate: boolean;
  /** Networks (CIDRs) allowed although not public, e.g. an internal receiver's subnet. */
  readonly allowedNetworks?: readonly string[];
}

/** Why a URL was refused; `reason` is safe to show the user who gave it. */
export type RefusalKind = "url" | "scheme" | "credentials" | "port" | "unresolvable" | "address";

/** A URL the policy does not allow. The message is safe to show the user; `detail` is for logs. */
export class DestinationRefused extends Error {
  constructor(
    readonly kind: RefusalKind,
    message: string,
    /** For logs only (resolved addresses, resolver errors): never shown to the user. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = "DestinationRefused";
  }
}

/** The resolver failed in a way that may pass (`EAI_AGAIN`, a timeout): worth trying again later. */
export class ResolutionUnavailable extends Error {
  constructor(
    readonly hostname: string,
    cause: unknown,
  ) {
    super(`cannot resolve ${hostname} right now`, { cause });
    this.name = "ResolutionUnavailable";
  }
}

/** A checked destination: the URL and the one address to connect to. */
export interface Destination {
  readonly url: URL;
  /** Host name for the Host header, SNI and certificate check ("" for an IP literal). */
  readonly hostname: string;
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
}

const systemLookup: Lookup = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => ({
    address: entry.address,
    family: entry.family === 6 ? 6 : 4,
  }));

/** One message for every refused address, so the check is no oracle for internal names. */
const notPublic = "must name a host that resolves only to public internet addresses";

/** Parses and checks everything about `raw` that needs no resolver; returns the URL. */
export function checkUrlShape(raw: string, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationRefused("url", "must be an absolute URL");
  }
  const schemes = policy.allowHttp ? ["https:", "http:"] : ["https:"];
  if (!schemes.includes(url.protocol)) {
    throw new DestinationRefused("scheme", policy.allowHttp ? "must use http or https" : "must use https");
  }
  if (url.username !== "" || url.password !== "") {
    throw new DestinationRefused("credentials", "must not contain credentials");
  }
  if (url.port === "0") throw new DestinationRefused("port", "must not use port 0");
  return url;
}

/** Creates the check for `policy`: `check(url)` resolves the host once and judges every address. */
export function destinationChecker(policy: OutboundPolicy, lookup: Lookup = systemLookup) {
  const allowed = (policy.allowedNetworks ?? []).map(parseCidr);

  const judge = (address: string): string | undefined => {
    const parsed = parseIp(address);
    if (!parsed) return "not an IP address";
    if (policy.allowPrivate || inNetworks(parsed, allowed)) return undefined;
    return nonPublicReason(parsed);
  };

  return async function check(raw: string): Promise<Destination> {
    const url = checkUrlShape(raw, policy);
    const host = hostOf(url);
    const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
    const literal = parseIp(host);
    let addresses: readonly ResolvedAddress[];
    if (literal) {
      addresses = [{ address: host, family: literal.family }];
    } else {
      try {
        addresses = await lookup(host);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === "EAI_AGAIN" || code === "ETIMEOUT" || code === "ECONNREFUSED") {
          throw new ResolutionUnavailable(host, error);
        }
        throw new DestinationRefused("unresolvable", notPublic, `${host}: ${(error as Error).message}`);
      }
      if (addresses.length === 0)
        throw new DestinationRefused("unresolvable", notPublic, `${host}: no address`);
    }
    // Every address must pass: a name answering one public and one private address is refused
    // rather than trusted to whichever one a connection would pick.
    for (const { address } of addresses) {
      const reason = judge(address);
      if (reason !== undefined) {
        throw new DestinationRefused("address", notPublic, `${host} → ${address} (${reason})`);
      }
    }
    const [first] = addresses as [ResolvedAddress];
    return { url, hostname: literal ? "" : host, address: first.address, family: first.family, port };
  };
}
