/**
 * The edge's routing and access table, built only from the contracts' descriptors: every unary method
 * of every service in `@mercato/sdk`'s `services`, with its `(mercato.common.v1.edge)` rule, owner
 * field, idempotency level and upstream. Adding an RPC to a contract never needs gateway code.
 */
import {
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  ScalarType,
} from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { commonV1, edgeRuleOf } from "@mercato/sdk";

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
  readonly upstream: UpstreamName;
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

/** Builds the table from service descriptors (default: every Mercato service). */
export function buildRouteTable(services: readonly DescService[]): RouteTable {
  const routes = new Map<string, Route>();
  const skipped: SkippedMethod[] = [];
  const exposedServices: DescService[] = [];
  for (const service of services) {
    const packageName = service.file.proto.package;
    const upstream = upstreamOf(packageName);
    let exposed = 0;
    for (const method of service.methods) {
      const path = `/${service.typeName}/${method.name}`;
      if (hiddenPackages.has(packageName)) {
        skipped.push({ path, reason: "diagnostic package" });
        continue;
      }
      const rule = edgeRuleOf(method);
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
        upstream,
      });
      exposed++;
    }
    if (exposed > 0) exposedServices.push(service);
  }
  return { routes, services: exposedServices, skipped };
}
