/**
 * Log shipping (charts/mercato `logShipping`): off by default; when on, an OpenTelemetry Collector
 * DaemonSet tails this release's pod logs and sends them over OTLP/HTTP. The chart's shared rules
 * (schemas, security, resources, probes, Istio) run on it through the "prod+istio+logs" profile in
 * chart.test.ts; this file checks what is particular to it: least privilege, its egress, and a
 * collector configuration that fits the JSON lines the services really write.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  chartDir,
  chartValues,
  find,
  type K8sObject,
  logShippingEndpoint,
  objectName,
  podSpec,
  profileArgs,
  profiles,
  render,
  repo,
  runHelm,
} from "./support.js";

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests and the collector config are arbitrary YAML
type Any = any;

const collector = objectName("log-collector");
const logProfile = profiles.find((p) => p.name === "prod+istio+logs")!;
const kind = profiles.find((p) => p.name === "kind")!;
const rbacKinds = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

/** A filelog include/exclude glob as a regular expression (`*` stays within one path segment). */
function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*");
  return new RegExp(`^${escaped}$`);
}

function ownObjects(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter((o) => o.metadata.name.startsWith(collector));
}

let logLines: Record<string, unknown>[] | undefined;

/** JSON lines written by the platform's real logger (packages/platform/src/log), made once. */
function realLogLines(): Record<string, unknown>[] {
  if (logLines) return logLines;
  const script = `import(${JSON.stringify(join(repo, "packages/platform/src/log/index.ts"))}).then(({ createLogger }) => {
    const logger = createLogger({ service: "order" });
    logger.info({ orderId: "o-1" }, "order placed");
    logger.error({ err: new Error("boom") }, "saga step failed");
  })`;
  const out = execFileSync(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: repo,
    encoding: "utf8",
  });
  logLines = out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  return logLines;
}

it("is off by default", () => {
  expect((chartValues() as Any).logShipping.enabled).toBe(false);
  for (const profile of profiles.filter((p) => p.name === "kind" || p.name === "prod")) {
    expect(ownObjects(render(profile)), profile.name).toEqual([]);
  }
});

it("refuses to render without an OTLP endpoint, or with one that is not http(s)", () => {
  const args = ["template", "mercato", chartDir, ...profileArgs(kind), "--set", "logShipping.enabled=true"];
  expect(() => runHelm(args)).toThrow(/logShipping\.otlp\.endpoint is required/);
  expect(() => runHelm([...args, "--set", "logShipping.otlp.endpoint=grpc://collector:4317"])).toThrow(
    /must be an http:\/\/ or https:\/\/ URL/,
  );
});

const cases = [
  { name: logProfile.name, objects: render(logProfile), port: 80, istio: true, egressTo: true },
  {
    name: "kind, https endpoint with its own port, headers and an Authorization Secret, any destination",
    objects: render(kind, [
      "--set",
      "logShipping.enabled=true",
      "--set",
      "logShipping.otlp.endpoint=https://logs.example.com:8443/otlp",
      "--set",
      "logShipping.otlp.headers.X-Scope-OrgID=mercato",
      "--set",
      "logShipping.otlp.authorization.existingSecret=otlp-auth",
      "--set",
      "logShipping.egressTo=null",
    ]),
    port: 8443,
    istio: false,
    egressTo: false,
  },
];

for (const c of cases) {
  describe(`log shipping on: ${c.name}`, () => {
    const daemonSet = find(c.objects, "DaemonSet", collector)!;
    const spec = podSpec(daemonSet);
    const [container] = spec.containers;
    const configMap = find(c.objects, "ConfigMap", collector)!;
    const config = parseYaml(configMap.data["collector.yaml"]);

    it("renders a ServiceAccount, ConfigMap, DaemonSet and NetworkPolicy, and no RBAC at all", () => {
      expect(
        ownObjects(c.objects)
          .map((o) => o.kind)
          .sort(),
      ).toEqual(["ConfigMap", "DaemonSet", "NetworkPolicy", "ServiceAccount"].sort());
      expect(c.objects.filter((o) => rbacKinds.includes(o.kind))).toEqual([]);
      expect(find(c.objects, "ServiceAccount", collector)!.automountServiceAccountToken).toBe(false);
      expect(spec.serviceAccountName).toBe(collector);
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(daemonSet.spec.template.metadata.labels["sidecar.istio.io/inject"] === "true").toBe(c.istio);
    });

    it("reads the node's pod logs read-only, as a non-root user in the root group", () => {
      const hostPaths = spec.volumes.filter((v: Any) => v.hostPath);
      expect(hostPaths).toEqual([
        { name: "pod-logs", hostPath: { path: "/var/log/pods", type: "Directory" } },
      ]);
      const mount = container.volumeMounts.find((m: Any) => m.name === "pod-logs");
      expect(mount).toEqual({ name: "pod-logs", mountPath: "/var/log/pods", readOnly: true });
      expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
      expect(spec.securityContext.supplementalGroups).toEqual([0]);
      expect(spec.hostNetwork ?? false).toBe(false);
      expect(spec.hostPID ?? false).toBe(false);
    });

    it("may only send to the OTLP endpoint's port (and DNS, and istiod under Istio)", () => {
      const policy = find(c.objects, "NetworkPolicy", collector)!;
      expect(policy.spec.podSelector.matchLabels).toEqual(daemonSet.spec.selector.matchLabels);
      expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
      expect(policy.spec.ingress).toEqual([]);
      const ports = policy.spec.egress.flatMap((rule: Any) => rule.ports.map((p: Any) => p.port));
      const external = c.istio ? [5432, 4222, 4318] : []; // values-prod.yaml's networkPolicy.externalEgress
      expect([...new Set(ports)].sort()).toEqual(
        [...new Set([53, c.port, ...(c.istio ? [15012, 15014] : []), ...external])].sort(),
      );
      const toEndpoint = policy.spec.egress.find((rule: Any) =>
        rule.ports.some((p: Any) => p.port === c.port),
      );
      if (c.egressTo) {
        expect(toEndpoint.to).toEqual((chartValues() as Any).logShipping.egressTo);
      } else {
        expect(toEndpoint.to).toBeUndefined();
      }
    });

    it("wires a complete logs pipeline to the configured endpoint", () => {
      const pipeline = config.service.pipelines.logs;
      for (const section of ["receivers", "processors", "exporters"] as const) {
        for (const name of pipeline[section])
          expect(config[section]?.[name], `${section}.${name}`).toBeDefined();
      }
      for (const name of config.service.extensions) expect(config.extensions[name], name).toBeDefined();
      expect(Object.keys(config.service.pipelines)).toEqual(["logs"]);
      expect(pipeline.processors[0]).toBe("memory_limiter");
      const exporter = config.exporters[pipeline.exporters[0]];
      expect(exporter.endpoint).toBe(
        c.port === 80 ? logShippingEndpoint : "https://logs.example.com:8443/otlp",
      );
      if (!c.egressTo) {
        expect(exporter.headers).toEqual({
          "X-Scope-OrgID": "mercato",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the collector's own ${env:NAME} syntax
          Authorization: "${env:OTLP_AUTHORIZATION}",
        });
        const env = container.env.find((e: Any) => e.name === "OTLP_AUTHORIZATION");
        expect(env.valueFrom.secretKeyRef).toEqual({ name: "otlp-auth", key: "authorization" });
      }
      // The collector finds its config, and its offsets go to a writable volume.
      const mountOf = (name: string) => container.volumeMounts.find((m: Any) => m.name === name).mountPath;
      expect(container.args).toEqual([`--config=${mountOf("config")}/collector.yaml`]);
      expect(config.extensions.file_storage.directory).toBe(mountOf("storage"));
      expect(spec.volumes.find((v: Any) => v.name === "storage").emptyDir).toBeDefined();
      const health = config.extensions.health_check.endpoint.split(":").at(-1);
      expect(String(container.ports[0].containerPort)).toBe(health);
    });

    it("tails this release's pods, not other namespaces' or its own", () => {
      const { include, exclude } = config.receivers.filelog;
      const tailed = (path: string) =>
        include.some((g: string) => globToRegExp(g).test(path)) &&
        !exclude.some((g: string) => globToRegExp(g).test(path));
      const uid = "0b6f0c1e-3a55-4f4e-9b3f-2f4a5c6d7e8f";
      expect(tailed(`/var/log/pods/mercato_mercato-order-7d9c5b8f4-x2x9q_${uid}/order/0.log`)).toBe(true);
      expect(tailed(`/var/log/pods/mercato_mercato-gateway-5f7d8-abcde_${uid}/istio-proxy/0.log`)).toBe(true);
      expect(tailed(`/var/log/pods/mercato_mercato-order-migrate-q8x7z_${uid}/migrate/0.log`)).toBe(true);
      expect(tailed(`/var/log/pods/kube-system_coredns-abc_${uid}/coredns/0.log`)).toBe(false);
      expect(tailed(`/var/log/pods/other_mercato-order-7d9c5b8f4-x2x9q_${uid}/order/0.log`)).toBe(false);
      expect(tailed(`/var/log/pods/mercato_mercato-log-collector-9xk2p_${uid}/collector/0.log`)).toBe(false);
    });

    it("parses the JSON lines the services' logger really writes", () => {
      const lines = realLogLines();
      expect(lines.length).toBe(2);
      const operators: Any[] = config.receivers.filelog.operators;
      const byType = (type: string) => operators.filter((o) => o.type === type);
      expect(operators[0].type).toBe("container");
      const [json] = byType("json_parser");
      expect(json.parse_to).toBe("attributes");
      const field = (path: string) => path.replace(/^attributes\./, "");
      for (const line of lines) {
        // Timestamp: ISO 8601 in UTC with milliseconds, which the Go layout below reads.
        expect(line[field(json.timestamp.parse_from)]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(json.timestamp.layout_type).toBe("gotime");
        expect(json.timestamp.layout).toBe("2006-01-02T15:04:05.999999999Z07:00");
        // Severity: pino's labels, which the collector's default severity mapping knows by name.
        expect(["trace", "debug", "info", "warn", "error", "fatal"]).toContain(
          line[field(json.severity.parse_from)],
        );
        const moves = byType("move").map((m) => field(m.from));
        for (const moved of moves) expect(line[moved], moved).toBeDefined();
        expect(byType("move").map((m) => m.to)).toEqual(["body", 'resource["service.name"]']);
      }
      expect(lines.map((l) => l.level)).toEqual(["info", "error"]);
      // Trace context: the field names the logger's mixin writes when a span is active.
      const [traceParser] = byType("trace_parser");
      const source = readFileSync(join(repo, "packages/platform/src/log/index.ts"), "utf8");
      expect(source).toContain(`fields.${field(traceParser.trace_id.parse_from)} = `);
      expect(source).toContain(`fields.${field(traceParser.span_id.parse_from)} = `);
    });
  });
}
