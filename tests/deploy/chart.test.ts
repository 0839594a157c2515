/**
 * charts/mercato, rendered with helm for every profile (kind/prod × Istio off/on, and production with
 * in-cluster NATS): helm lint, every object valid against the Kubernetes 1.33 / Istio schemas, and the
 * project's rules.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "@mercato/testing";
import { describe, expect, it } from "vitest";
import {
  chartDir,
  chartValues,
  find,
  type K8sObject,
  namespace,
  objectName,
  podSpec,
  profileArgs,
  profiles,
  render,
  repo,
  runHelm,
  validateObject,
} from "./support.js";

const values = chartValues();
const components = Object.keys(values.services);
const principal = (component: string) => `cluster.local/ns/${namespace}/sa/${objectName(component)}`;
const callersOf = (component: string) =>
  Object.entries(values.callGraph)
    .filter(([, upstreams]) => upstreams.includes(component))
    .map(([caller]) => caller)
    .sort();

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
type Container = any;

function containersOf(obj: K8sObject): Container[] {
  const spec = podSpec(obj);
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

function envOf(container: Container): Map<string, Container> {
  return new Map((container.env ?? []).map((e: Container) => [e.name, e]));
}

it("helm lint passes for every profile", () => {
  for (const profile of profiles) {
    const out = runHelm(["lint", chartDir, "--strict", ...profileArgs(profile)]);
    expect(out, profile.name).toContain("0 chart(s) failed");
  }
});

it("refuses an unpinned image tag", () => {
  expect(() =>
    runHelm(["template", "mercato", chartDir, ...profileArgs(profiles[0]!), "--set", "image.tag=latest"]),
  ).toThrow(/pinned version/);
});

for (const profile of profiles) {
  describe(`profile ${profile.name}`, () => {
    const objects = render(profile);
    const workloads = objects.filter((o) => podSpec(o) !== undefined);

    it("renders objects that are valid against the Kubernetes and Istio schemas", async () => {
      expect(objects.length).toBeGreaterThan(50);
      const failures: string[] = [];
      for (const obj of objects) {
        try {
          await validateObject(obj);
        } catch (error) {
          failures.push(`${obj.kind}/${obj.metadata.name}: ${(error as Error).message}`);
        }
      }
      expect(failures).toEqual([]);
    });

    it("names objects uniquely per kind", () => {
      const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
    });

    it("gives every component its Deployment, Service, ServiceAccount, HPA, PDB and NetworkPolicy", () => {
      for (const component of components) {
        const name = objectName(component);
        for (const kind of [
          "Deployment",
          "Service",
          "ServiceAccount",
          "HorizontalPodAutoscaler",
          "PodDisruptionBudget",
          "NetworkPolicy",
        ]) {
          expect(find(objects, kind, name), `${kind} ${name}`).toBeDefined();
        }
        for (const kind of ["DestinationRule", "VirtualService", "AuthorizationPolicy"]) {
          expect(find(objects, kind, name) !== undefined, `${kind} ${name}`).toBe(profile.istio);
        }
      }
      const deny = find(objects, "NetworkPolicy", `${objectName("default-deny")}`);
      expect(deny?.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    });

    it("runs every pod non-root, read-only, unprivileged, with all capabilities dropped", () => {
      expect(workloads.length).toBeGreaterThan(0);
      for (const obj of workloads) {
        const spec = podSpec(obj);
        const where = `${obj.kind}/${obj.metadata.name}`;
        expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
        expect(spec.securityContext?.runAsUser, where).toBeGreaterThan(0);
        expect(spec.securityContext?.seccompProfile?.type, where).toBe("RuntimeDefault");
        expect(spec.hostNetwork ?? false, where).toBe(false);
        expect(spec.automountServiceAccountToken, where).toBe(false);
        for (const container of containersOf(obj)) {
          const at = `${where} container ${container.name}`;
          const sc = container.securityContext ?? {};
          expect(sc.allowPrivilegeEscalation, at).toBe(false);
          expect(sc.readOnlyRootFilesystem, at).toBe(true);
          expect(sc.privileged ?? false, at).toBe(false);
          expect(sc.capabilities?.drop, at).toContain("ALL");
          expect(sc.capabilities?.add ?? [], at).toEqual([]);
          expect(sc.runAsNonRoot ?? spec.securityContext.runAsNonRoot, at).toBe(true);
        }
      }
    });

    it("sets requests and limits on every container and pins every image", () => {
      for (const obj of workloads) {
        for (const container of containersOf(obj)) {
          const at = `${obj.kind}/${obj.metadata.name} container ${container.name}`;
          for (const kind of ["requests", "limits"]) {
            expect(container.resources?.[kind]?.cpu, `${at} ${kind}.cpu`).toBeDefined();
            expect(container.resources?.[kind]?.memory, `${at} ${kind}.memory`).toBeDefined();
          }
          const image: string = container.image;
          const tag = image.includes("@") ? "digest" : image.slice(image.lastIndexOf(":") + 1);
          expect(
            image.lastIndexOf(":") > image.lastIndexOf("/") || image.includes("@sha256:"),
            `${at} ${image}`,
          ).toBe(true);
          expect(tag, `${at} ${image}`).not.toBe("latest");
          expect(tag, `${at} ${image}`).not.toBe("");
        }
      }
    });

    it("probes every long-running container; services over grpc.health.v1, the edge over HTTP", () => {
      for (const obj of workloads.filter((o) => o.kind !== "Job")) {
        for (const container of containersOf(obj)) {
          const at = `${obj.kind}/${obj.metadata.name}`;
          expect(container.readinessProbe, `${at} readiness`).toBeDefined();
          expect(container.livenessProbe, `${at} liveness`).toBeDefined();
        }
      }
      for (const component of components) {
        const deployment = find(objects, "Deployment", objectName(component))!;
        const [container] = containersOf(deployment);
        const s = values.services[component]!;
        if (s.edge) {
          expect(container.readinessProbe.httpGet.path).toBe("/readyz");
          expect(container.livenessProbe.httpGet.path).toBe("/healthz");
        } else {
          expect(container.readinessProbe.grpc).toEqual({ port: s.grpcPort, service: "" });
          expect(container.livenessProbe.grpc).toEqual({ port: s.grpcPort, service: "" });
        }
      }
    });

    it("gives services a writable /tmp only, topology spread, and named gRPC ports", () => {
      for (const component of components) {
        const name = objectName(component);
        const deployment = find(objects, "Deployment", name)!;
        const spec = podSpec(deployment);
        const [container] = containersOf(deployment);
        expect(container.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
        expect(spec.volumes.find((v: Container) => v.name === "tmp")?.emptyDir).toBeDefined();
        const keys = spec.topologySpreadConstraints.map((t: Container) => t.topologyKey);
        expect(keys).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
        const service = find(objects, "Service", name)!;
        const ports = service.spec.ports.map((p: Container) => `${p.name}:${p.port}:${p.appProtocol}`);
        const s = values.services[component]!;
        expect(ports).toEqual([
          s.edge ? `http:${s.grpcPort}:http` : `grpc:${s.grpcPort}:grpc`,
          `http-admin:${s.adminPort}:http`,
        ]);
        expect(container.command, `${name} keeps the image's entrypoint`).toBeUndefined();
      }
    });

    it("wires the declared call graph into addresses, NetworkPolicies and AuthorizationPolicies", () => {
      for (const component of components) {
        const name = objectName(component);
        const upstreams = [...(values.callGraph[component] ?? [])].sort();
        const [container] = containersOf(find(objects, "Deployment", name)!);
        const addresses = [...envOf(container).keys()]
          .filter((key) => key.endsWith("_ADDRESS"))
          .map((key) => key.replace(/_ADDRESS$/, "").toLowerCase())
          .sort();
        expect(addresses, `${name} *_ADDRESS`).toEqual(upstreams);
        for (const upstream of upstreams) {
          const address: string = envOf(container).get(`${upstream.toUpperCase()}_ADDRESS`).value;
          expect(address).toContain(`${objectName(upstream)}.${namespace}.svc.cluster.local:`);
          expect(address.endsWith(`:${values.services[upstream]!.grpcPort}`)).toBe(true);
        }

        const policy = find(objects, "NetworkPolicy", name)!;
        const egressTo = policy.spec.egress
          .flatMap((rule: Container) => rule.to ?? [])
          .map((peer: Container) => peer.podSelector?.matchLabels?.["app.kubernetes.io/name"])
          .filter((peer: string | undefined) => peer !== undefined && components.includes(peer))
          .sort();
        expect(egressTo, `${name} egress`).toEqual(upstreams);
        const ingressFrom = policy.spec.ingress
          .flatMap((rule: Container) => rule.from ?? [])
          .map((peer: Container) => peer.podSelector?.matchLabels?.["app.kubernetes.io/name"])
          .filter((peer: string | undefined) => peer !== undefined)
          .sort();
        expect(ingressFrom, `${name} ingress`).toEqual(callersOf(component));
        const dns = policy.spec.egress.find((rule: Container) =>
          rule.ports?.some((p: Container) => p.port === 53),
        );
        expect(dns, `${name} DNS egress`).toBeDefined();

        if (profile.istio) {
          const ap = find(objects, "AuthorizationPolicy", name)!;
          expect(ap.spec.action).toBe("ALLOW");
          const rules = ap.spec.rules ?? [];
          const principals = rules
            .flatMap((rule: Container) => rule.from ?? [])
            .flatMap((f: Container) => f.source?.principals ?? [])
            .filter((p: string) => p.startsWith(`cluster.local/ns/${namespace}/`))
            .sort();
          expect(principals, `${name} principals`).toEqual(callersOf(component).map(principal));
          const s = values.services[component]!;
          if (callersOf(component).length > 0 && !s.edge) {
            const paths = rules.flatMap((rule: Container) =>
              (rule.to ?? []).flatMap((t: Container) => t.operation?.paths ?? []),
            );
            expect(paths).toEqual(s.apis.map((api) => `/${api}.*`));
          }
        }
      }
    });

    it("gives each service with a database its Secret reference and a MIGRATE_ONLY hook Job", () => {
      const platformConfig = readFileSync(join(repo, "packages/platform/src/config/index.ts"), "utf8");
      expect(platformConfig).toMatch(/flag\("MIGRATE_ONLY"/);
      for (const component of components) {
        const s = values.services[component]!;
        const job = find(objects, "Job", `${objectName(component)}-migrate`);
        const [container] = containersOf(find(objects, "Deployment", objectName(component))!);
        const env = envOf(container);
        if (!s.database) {
          expect(job).toBeUndefined();
          expect(env.has("DATABASE_URL")).toBe(false);
          continue;
        }
        expect(env.get("DATABASE_URL")?.valueFrom?.secretKeyRef?.name).toBeDefined();
        expect(job, `${component} migration job`).toBeDefined();
        const hooks = job!.metadata.annotations!["helm.sh/hook"]!;
        expect(hooks).toContain("pre-upgrade");
        const [migrate] = containersOf(job!);
        expect(envOf(migrate).get("MIGRATE_ONLY")?.value).toBe("true");
        expect(migrate.image).toBe(container.image);
        expect(envOf(migrate).get("DATABASE_URL")).toEqual(env.get("DATABASE_URL"));
        // The SA the Job uses must exist when the hook runs: it is a hook itself, created first.
        const sa = find(objects, "ServiceAccount", podSpec(job!).serviceAccountName)!;
        expect(sa.metadata.annotations?.["helm.sh/hook"]).toBe(hooks);
        expect(Number(sa.metadata.annotations?.["helm.sh/hook-weight"])).toBeLessThan(
          Number(job!.metadata.annotations!["helm.sh/hook-weight"]),
        );
      }
    });

    it("sets MESH to match Istio, and keeps attempts per call within the retry budget", () => {
      const config = find(objects, "ConfigMap", objectName("config"))!;
      expect(config.data.MESH).toBe(profile.istio ? "istio" : "none");
      // What the platform's client really does: maxAttempts default, and no retries under MESH=istio.
      const client = readFileSync(join(repo, "packages/platform/src/grpc/client.ts"), "utf8");
      const appDefault = Number(
        /maxAttempts:\s*retrySettings\?\.maxAttempts\s*\?\?\s*(\d+)/.exec(client)?.[1],
      );
      expect(appDefault).toBe(values.retryBudget.appAttemptsWithoutMesh);
      expect(client).toMatch(/options\.mesh === "istio" \? undefined/);
      const appAttempts = profile.istio ? 1 : appDefault;
      for (const component of components) {
        const vs = find(objects, "VirtualService", objectName(component));
        if (!profile.istio) {
          expect(appAttempts).toBeLessThanOrEqual(values.retryBudget.maxAttemptsPerCall);
          continue;
        }
        for (const route of vs!.spec.http) {
          const meshAttempts = 1 + (route.retries?.attempts ?? 0);
          expect(meshAttempts * appAttempts, `${component} attempts per call`).toBeLessThanOrEqual(
            values.retryBudget.maxAttemptsPerCall,
          );
          expect(route.timeout).toBeDefined();
          expect(route.retries.perTryTimeout).toBeDefined();
        }
      }
    });

    if (profile.istio) {
      it("uses ISTIO_MUTUAL with a connection pool and outlier detection everywhere", () => {
        for (const dr of objects.filter((o) => o.kind === "DestinationRule")) {
          expect(dr.spec.trafficPolicy.tls.mode, dr.metadata.name).toBe("ISTIO_MUTUAL");
          expect(dr.spec.trafficPolicy.connectionPool?.tcp, dr.metadata.name).toBeDefined();
          expect(dr.spec.trafficPolicy.connectionPool?.http, dr.metadata.name).toBeDefined();
          expect(dr.spec.trafficPolicy.outlierDetection, dr.metadata.name).toBeDefined();
        }
        for (const obj of workloads) {
          expect(obj.spec.template.metadata.labels["sidecar.istio.io/inject"], obj.metadata.name).toBe(
            "true",
          );
        }
      });
    }

    it("never weakens mTLS (no PERMISSIVE or DISABLE anywhere)", () => {
      const text = JSON.stringify(objects);
      expect(text).not.toMatch(/"mode":"(PERMISSIVE|DISABLE)"/);
      expect(text).not.toMatch(/"mode":"(SIMPLE|MUTUAL)"/);
    });

    it("sets only environment variables the code reads", async () => {
      const { variablesInCode } = await import("./support.js");
      const platformOnly = new Set(["NODE_ENV", "TMPDIR"]);
      const config = find(objects, "ConfigMap", objectName("config"))!;
      for (const component of components) {
        const [container] = containersOf(find(objects, "Deployment", objectName(component))!);
        const known = variablesInCode(component, values.callGraph[component] ?? []);
        const set = [...envOf(container).keys(), ...Object.keys(config.data)];
        const unknown = set.filter((name) => !known.has(name) && !platformOnly.has(name));
        expect(unknown, `${component} sets variables its code does not read`).toEqual([]);
      }
    });

    it("configures NATS so nats-server accepts it", () => {
      const natsConfig = find(objects, "ConfigMap", `${objectName("nats")}-config`);
      if (!natsConfig) {
        expect(profile.valuesFile).toBe("values-prod.yaml");
        return;
      }
      const conf: string = natsConfig.data["nats.conf"];
      expect(conf).toMatch(/sync_interval: always/);
      const sts = find(objects, "StatefulSet", objectName("nats"))!;
      const routes = conf.match(/nats:\/\/[^\s]+:6222/g) ?? [];
      expect(routes.length).toBe(sts.spec.replicas > 1 ? sts.spec.replicas : 0);
      expect(sts.spec.replicas).toBe(profile.valuesFile === "values-kind.yaml" ? 1 : 3);
      const server = requireTool("nats-server");
      const dir = mkdtempSync(join(tmpdir(), "nats-conf-"));
      try {
        const file = join(dir, "nats.conf");
        writeFileSync(file, conf.replaceAll("/data/jetstream", join(dir, "js")));
        execFileSync(server, ["-t", "-c", file], {
          encoding: "utf8",
          env: { ...process.env, SERVER_NAME: "nats-0" },
          stdio: ["ignore", "pipe", "pipe"],
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
