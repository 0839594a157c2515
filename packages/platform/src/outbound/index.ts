/**
 * Outbound HTTP to URLs users give (webhooks), through one guarded client: only public addresses
 * (unless the policy allows more), the checked address is the one connected to, no redirects, bounded
 * time and response size.
 */
export {
  formatIp,
  hostOf,
  type IpAddress,
  nonPublicReason,
  parseCidr,
  parseIp,
} from "./address.js";
export {
  createOutboundClient,
  type OutboundClient,
  type OutboundClientOptions,
  OutboundFailure,
  type OutboundRequest,
  type OutboundResponse,
} from "./client.js";
export {
  checkUrlShape,
  type Destination,
  DestinationRefused,
  destinationChecker,
  type Lookup,
  type OutboundPolicy,
  type RefusalKind,
  ResolutionUnavailable,
  type ResolvedAddress,
} from "./guard.js";
