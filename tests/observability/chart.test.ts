/**
 * The chart's monitoring objects: the Grafana dashboard ConfigMap (on by default), and the
 * PrometheusRule and PodMonitor (Prometheus Operator CRDs, off by default), rendered for every
 * profile and validated against their schemas. That their expressions only use exported metrics is
 * checked against a live system in observability.test.ts.
 */
import { describe, expect, it } from "vitest";
import { find, type K8sObject, profiles, render, validateObject } from "../deploy/support.js";

const operatorObjects = [
  "--set",
  "monitoring.prometheusRule.enabled=true",
  "--set",
  "monitoring.podMonitor.enabled=true",
];

for (const profile of profiles) {
  describe(`profile ${profile.name}`, () => {
    it("ships the dashboard by default, and operator objects only when asked", () => {
      const objects = render(profile);
      const dashboards = find(objects, "ConfigMap", "mercato-dashboards");
      expect(dashboards?.metadata.labels?.grafana_dashboard).toBe("1");
      expect(objects.filter((o) => o.apiVersion.startsWith("monitoring.coreos.com/"))).toEqual([]);
    });

    it("renders valid monitoring objects", async () => {
      const objects = render(profile, operatorObjects).filter(
        (o) => o.apiVersion.startsWith("monitoring.coreos.com/") || o.metadata.name === "mercato-dashboards",
      );
      expect(objects.map((o) => o.kind).sort()).toEqual(["ConfigMap", "PodMonitor", "PrometheusRule"]);
      for (const obj of objects) await validateObject(obj);
    });
  });
}

describe("monitoring objects", () => {
  const objects = render(profiles[0]!, operatorObjects);

  it("has a dashboard of valid panels with a Prometheus data source variable", () => {
    const data = find(objects, "ConfigMap", "mercato-dashboards")!.data as Record<string, string>;
    expect(Object.keys(data)).toEqual(["mercato-overview.json"]);
    const dashboard = JSON.parse(data["mercato-overview.json"]!);
    expect(dashboard).toMatchObject({ uid: "mercato-overview", title: expect.any(String) });
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: "datasource", query: "prometheus" }),
    );
    const panels = dashboard.panels.filter((p: { type: string }) => p.type !== "row");
    expect(new Set(dashboard.panels.map((p: { id: number }) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of panels) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.gridPos.w + panel.gridPos.x, panel.title).toBeLessThanOrEqual(24);
    }
    const titles = panels.map((p: { title: string }) => p.title).join("\n");
    for (const subject of [
      /error ratio/i,
      /p99/i,
      /saga outcomes/i,
      /outbox .*age/i,
      /consumer lag/i,
      /rate-limit/i,
    ]) {
      expect(titles).toMatch(subject);
    }
  });

  it("alerts on error rate, p99, outbox age, dead letters and unfinished sagas", () => {
    const rule = find(objects, "PrometheusRule", "mercato") as K8sObject;
    const rules = rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules) as {
      alert: string;
      expr: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
    }[];
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        "MercatoHighErrorRate",
        "MercatoHighLatencyP99",
        "MercatoOutboxStuck",
        "MercatoDeadLetters",
        "MercatoSagasNotTerminal",
      ]),
    );
    for (const r of rules) {
      expect(r.expr, r.alert).toMatch(/mercato_/);
      expect(["page", "warning"], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary?.length, r.alert).toBeGreaterThan(10);
    }
  });

  it("points the PodMonitor at the admin port of services and the edge", () => {
    const monitor = find(objects, "PodMonitor", "mercato") as K8sObject;
    expect(monitor.spec.podMetricsEndpoints).toEqual([
      expect.objectContaining({ port: "http-admin", path: "/metrics" }),
    ]);
    const deployments = objects.filter(
      (o) => o.kind === "Deployment" && o.metadata.name !== "mercato-postgres",
    );
    const ports = deployments.flatMap((d) =>
      d.spec.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) => c.ports ?? []),
    );
    expect(ports.map((p: { name: string }) => p.name)).toContain("http-admin");
    const selected = deployments.filter((d) =>
      ["service", "edge"].includes(d.spec.template.metadata.labels["app.kubernetes.io/component"]),
    );
    expect(selected.length).toBeGreaterThanOrEqual(8);
  });
});
