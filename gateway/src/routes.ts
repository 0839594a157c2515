/**
 * The edge's routing and access table, built only from the contracts' descriptors: every unary method
 * of every service in `@mercato/sdk`'s `services`, with its `(mercato.common.v1.edge)` rule, owner
 * field, rate-limit class, idempotency level, page-size fields and upstream. Adding an RPC to a contract never needs gateway code.
 */
import {
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  getOption,
  hasOption,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { commonV1, edgeRuleOf } from "@mercato/sdk";
import type { RateClass } from "./ratelimit.js";

export const Access = commonV1.Access;
export type Access = commonV1.Access;

/** The upstream services the edge forwards to. */
export const upstreamNames = [
  "identity",
  "catalog",
  "inventory",
  "order",
  "payment",
  "shipping",
  "notification",
] as const;
export type UpstreamName = (typeof upstreamNames)[number];

/** One exposed RPC. */
export interface Route {
  /** `/<package.Service>/<Method>`: the HTTP path at the edge and the gRPC path upstream. */
  readonly path: string;
  readonly method: DescMethod;
  readonly service: DescService;
  readonly input: DescMessage;
  readonly output: DescMessage;
  /** PUBLIC, AUTHENTICATED or ADMIN (INTERNAL methods are never routes). */
  readonly access: Access;
  /** The top-level string request field naming the owning user, when the RPC has one. */
  readonly ownerField: DescField | undefined;
  /** Connect GET is allowed (the method is NO_SIDE_EFFECTS). */
  readonly allowGet: boolean;
  /** The method changes something (not NO_SIDE_EFFECTS): Idempotency-Key applies. */
  readonly mutating: boolean;
  /** The rate-limit class from `(mercato.common.v1.edge).rate_limit` (unset: default). */
  readonly rateClass: RateClass;
  /** Paths of field descriptors leading to every int32 `page_size` in the request (capped at the edge). */
  readonly pageSizePaths: readonly (readonly DescField[])[];
  /** A Mercato service, or an extra upstream the gateway was built with. */
  readonly upstream: UpstreamName | (string & {});
}

/** A method left out of the table and why (logged at start-up, asserted in tests). */
export interface SkippedMethod {
  readonly path: string;
  readonly reason: string;
}

export interface RouteTable {
  /** Exposed routes by path. */
  readonly routes: ReadonlyMap<string, Route>;
  /** Services with at least one exposed method (what reflection lists). */
  readonly services: readonly DescService[];
  readonly skipped: readonly SkippedMethod[];
}

/** Packages never exposed at the edge, whatever their options say (diagnostics). */
const hiddenPackages = new Set(["mercato.testing.v1"]);

/** The upstream that serves a proto package: `mercato.<domain>.vN` → `<domain>`. */
export function upstreamOf(packageName: string): UpstreamName | undefined {
  const match = /^mercato\.([a-z_]+)\.v\d+(?:(?:alpha|beta)\d*)?$/.exec(packageName);
  const domain = match?.[1];
  return domain !== undefined && (upstreamNames as readonly string[]).includes(domain)
    ? (domain as UpstreamName)
    : undefined;
}

function ownerFieldOf(method: DescMethod, name: string | undefined): DescField | undefined {
  if (name === undefined) return undefined;
  const field = method.input.fields.find((f) => f.name === name);
  if (field?.fieldKind !== "scalar" || field.scalar !== ScalarType.STRING || field.oneof) {
    throw new Error(
      `${method.parent.typeName}/${method.name}: owner_field "${name}" is not a top-level string field of ${method.input.typeName}`,
    );
  }
  return field;
}

const RateLimitClass = commonV1.RateLimitClass;

/** The rate-limit class of a method. */
export function rateClassOf(method: DescMethod): RateClass {
  const declared = hasOption(method, commonV1.edge) ? getOption(method, commonV1.edge).rateLimit : undefined;
  if (declared === RateLimitClass.STRICT) return "strict";
  if (declared === RateLimitClass.LOOSE) return "loose";
  return "default";
}

/** Every singular path to an int32 `page_size` field of a message, a few levels deep. */
function pageSizePathsOf(message: DescMessage, prefix: readonly DescField[] = [], depth = 0): DescField[][] {
  const paths: DescField[][] = [];
  for (const field of message.fields) {
    if (field.fieldKind === "scalar" && field.name === "page_size" && field.scalar === ScalarType.INT32) {
      paths.push([...prefix, field]);
    } else if (
      field.fieldKind === "message" &&
      depth < 3 &&
      !field.message.typeName.startsWith("google.") &&
      !prefix.some((f) => f.fieldKind === "message" && f.message === field.message)
    ) {
      paths.push(...pageSizePathsOf(field.message, [...prefix, field], depth + 1));
    }
  }
  return paths;
}

/** Caps every `page_size` of a request at `max`; returns true when the message changed. */
export function capPageSize(route: Route, message: Message, max: number): boolean {
  let changed = false;
  for (const path of route.pageSizePaths) {
    let target = message as unknown as Record<string, unknown> | undefined;
    for (const field of path.slice(0, -1)) {
      target = target?.[field.localName] as Record<string, unknown> | undefined;
    }
    const leaf = path[path.length - 1];
    if (target === undefined || leaf === undefined) continue;
    const value = target[leaf.localName];
    if (typeof value === "number" && value > max) {
      target[leaf.localName] = max;
      changed = true;
    }
  }
  return changed;
}

/** Services outside Mercato's contracts exposed as they are (e.g. the Connect conformance service). */
export interface ExposeAs {
  /** The upstream (an extra upstream of the gateway) that serves them. */
  readonly upstream: string;
  /** The access rule of every method. */
  readonly access: Access;
}

/**
 * Builds the table from service descriptors (default: every Mercato service). With `expose`, the
 * services' own options are ignored: every unary method is routed to `expose.upstream`.
 */
export function buildRouteTable(services: readonly DescService[], expose?: ExposeAs): RouteTable {
  const routes = new Map<string, Route>();
  const skipped: SkippedMethod[] = [];
  const exposedServices: DescService[] = [];
  for (const service of services) {
    const packageName = service.file.proto.package;
    const upstream = expose?.upstream ?? upstreamOf(packageName);
    let exposed = 0;
    for (const method of service.methods) {
      const path = `/${service.typeName}/${method.name}`;
      if (hiddenPackages.has(packageName) && expose === undefined) {
        skipped.push({ path, reason: "diagnostic package" });
        continue;
      }
      const rule = expose ? { access: expose.access, ownerField: undefined } : edgeRuleOf(method);
      if (
        rule.access !== Access.PUBLIC &&
        rule.access !== Access.AUTHENTICATED &&
        rule.access !== Access.ADMIN
      ) {
        skipped.push({ path, reason: "internal" });
        continue;
      }
      if (method.methodKind !== "unary") {
        skipped.push({ path, reason: `${method.methodKind} methods are not forwarded` });
        continue;
      }
      if (upstream === undefined) {
        skipped.push({ path, reason: `no upstream serves package ${packageName}` });
        continue;
      }
      routes.set(path, {
        path,
        method,
        service,
        input: method.input,
        output: method.output,
        access: rule.access,
        ownerField: ownerFieldOf(method, rule.ownerField),
        allowGet: method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
        mutating: method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
        rateClass: rateClassOf(method),
        pageSizePaths: pageSizePathsOf(method.input),
        upstream,
      });
      exposed++;
    }
    if (exposed > 0) exposedServices.push(service);
  }
  return { routes, services: exposedServices, skipped };
}
