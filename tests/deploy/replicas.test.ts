/**
 * The chart's replica settings (issue 11, item 5): callers reach a service's pods through a headless
 * Service by `dns:///` (round-robin per call) without a mesh, the HPA and replica count come from the
 * values, and the edge is told how many replicas share its rate limits and how many proxies stand in
 * front of it.
 */
import { describe, expect, it } from "vitest";
import { find, type K8sObject, objectName, podSpec, profiles, render } from "./support.js";

function envOf(objects: readonly K8sObject[], component: string): Record<string, string> {
  const deployment = find(objects, "Deployment", objectName(component));
  const container = podSpec(deployment!)?.containers?.[0];
  return Object.fromEntries(
    (container?.env ?? []).map((e: { name: string; value?: string }) => [e.name, e.value ?? ""]),
  );
}

const byName = Object.fromEntries(profiles.map((p) => [p.name, p]));

describe("chart replicas", () => {
  it("gives callers a dns:/// target on a headless Service without a mesh", () => {
    const objects = render(byName.prod!);
    expect(envOf(objects, "order").INVENTORY_ADDRESS).toBe(
      "dns:///mercato-inventory.mercato.svc.cluster.local:50053",
    );
    expect(find(objects, "Service", objectName("inventory"))?.spec.clusterIP).toBe("None");
    const hpa = find(objects, "HorizontalPodAutoscaler", objectName("order"));
    expect([hpa?.spec.minReplicas, hpa?.spec.maxReplicas]).toEqual([3, 12]);
  });

  it("sets GATEWAY_REPLICAS and TRUSTED_PROXY_HOPS from the values", () => {
    expect(envOf(render(byName.kind!), "gateway")).toMatchObject({
      GATEWAY_REPLICAS: "1",
      TRUSTED_PROXY_HOPS: "0",
    });
    expect(envOf(render(byName["prod+istio"]!), "gateway")).toMatchObject({
      GATEWAY_REPLICAS: "3",
      TRUSTED_PROXY_HOPS: "1",
    });
    const pinned = render(byName.prod!, [
      "--set",
      "services.gateway.rateLimitReplicas=5",
      "--set",
      "services.gateway.trustedProxyHops=2",
      "--set",
      "services.gateway.autoscaling.enabled=false",
      "--set",
      "services.gateway.replicas=4",
    ]);
    expect(envOf(pinned, "gateway")).toMatchObject({ GATEWAY_REPLICAS: "5", TRUSTED_PROXY_HOPS: "2" });
    expect(find(pinned, "Deployment", objectName("gateway"))?.spec.replicas).toBe(4);
    const unpinned = render(byName.prod!, [
      "--set",
      "services.gateway.autoscaling.enabled=false",
      "--set",
      "services.gateway.replicas=4",
    ]);
    expect(envOf(unpinned, "gateway").GATEWAY_REPLICAS).toBe("4");
  });
});
