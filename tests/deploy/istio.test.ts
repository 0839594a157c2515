/**
 * istio/: the mesh-wide pieces. Every object valid against the Istio schemas, STRICT mTLS, a default
 * deny, the ingress routed to the edge, and JWT rules that match the edge's and identity's own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartValues, type K8sObject, objectName, parseObjects, repo, validateObject } from "./support.js";

const istioDir = join(repo, "istio");
const files = readdirSync(istioDir).filter((f) => f.endsWith(".yaml"));
const objects: (K8sObject & { file: string })[] = files.flatMap((file) =>
  parseObjects(readFileSync(join(istioDir, file), "utf8")).map((obj) => ({ ...obj, file })),
);
const values = chartValues();
const edgePort = values.services.gateway!.grpcPort;
const edgeHost = `${objectName("gateway")}.mercato.svc.cluster.local`;

describe("istio/", () => {
  it("holds the install profile, STRICT peer authentication, default deny, ingress and JWT rules", () => {
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        "AuthorizationPolicy",
        "Gateway",
        "IstioOperator",
        "PeerAuthentication",
        "RequestAuthentication",
        "VirtualService",
      ]),
    );
  });

  it("contains only objects valid against the Istio schemas", async () => {
    const failures: string[] = [];
    for (const obj of objects) {
      const { file, ...manifest } = obj;
      try {
        await validateObject(manifest);
      } catch (error) {
        failures.push(`${file} ${obj.kind}/${obj.metadata.name}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("enforces STRICT mTLS mesh-wide and never weakens it", () => {
    const mesh = objects.find(
      (o) => o.kind === "PeerAuthentication" && o.metadata.namespace === "istio-system",
    );
    expect(mesh?.spec.mtls.mode).toBe("STRICT");
    expect(mesh?.spec.selector).toBeUndefined();
    for (const obj of objects) {
      expect(JSON.stringify(obj), `${obj.file}`).not.toMatch(/"mode":"(PERMISSIVE|DISABLE)"/);
    }
  });

  it("denies by default mesh-wide", () => {
    const deny = objects.find(
      (o) => o.kind === "AuthorizationPolicy" && o.metadata.namespace === "istio-system" && !o.spec?.selector,
    );
    expect(deny).toBeDefined();
    expect(deny!.spec).toEqual({});
  });

  it("routes the ingress to the edge gateway's Service and port", () => {
    const vs = objects.find((o) => o.kind === "VirtualService" && o.spec.gateways?.length);
    const gateway = objects.find((o) => o.kind === "Gateway");
    expect(vs?.spec.gateways).toContain(gateway?.metadata.name);
    const destination = vs!.spec.http[0].route[0].destination;
    expect(destination).toEqual({ host: edgeHost, port: { number: edgePort } });
  });

  it("checks JWTs at the ingress with the same issuer, audience and keys as the edge", () => {
    const ra = objects.find((o) => o.kind === "RequestAuthentication");
    const [rule] = ra!.spec.jwtRules;
    expect(rule.issuer).toBe(values.jwt.issuer);
    expect(rule.audiences).toEqual([values.jwt.audience]);
    expect(rule.jwksUri).toBe(`http://${edgeHost}:${edgePort}/.well-known/jwks.json`);
    // The edge's and identity's own defaults, from their code.
    const gatewayConfig = readFileSync(join(repo, "gateway/src/config.ts"), "utf8");
    const identityConfig = readFileSync(join(repo, "services/identity/src/config.ts"), "utf8");
    for (const config of [gatewayConfig, identityConfig]) {
      expect(config).toMatch(new RegExp(`"JWT_ISSUER", \\{\\s*default: "${values.jwt.issuer}"`));
      expect(config).toMatch(new RegExp(`"JWT_AUDIENCE", \\{\\s*default: "${values.jwt.audience}"`));
    }
    const edge = readFileSync(join(repo, "gateway/src/edge.ts"), "utf8");
    expect(edge).toContain('"/.well-known/jwks.json"');
  });

  it("lets migration Jobs finish and probes pass under the mesh (install profile)", () => {
    const operator = objects.find((o) => o.kind === "IstioOperator")!;
    expect(operator.spec.values.pilot.env.ENABLE_NATIVE_SIDECARS).toBe("true");
    expect(operator.spec.meshConfig.defaultConfig.holdApplicationUntilProxyStarts).toBe(true);
    expect(operator.spec.values.pilot.env.PILOT_JWT_ENABLE_REMOTE_JWKS).toBe("envoy");
  });
});
