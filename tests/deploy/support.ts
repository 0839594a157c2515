/**
 * Shared helpers of the deploy tests: the helm binary, rendering the chart for each profile, validating
 * objects against the Kubernetes and Istio schemas, and reading what the code says (call graph, env).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "@mercato/testing";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const repo = repoRoot();
export const chartDir = join(repo, "charts/mercato");
export const releaseName = "mercato";
export const namespace = "mercato";

/** A Kubernetes object as rendered (loosely typed: the schemas check the shape). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
  data?: any;
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
  [key: string]: any;
}

/** One way the chart is installed. */
export interface Profile {
  readonly name: string;
  readonly valuesFile: string;
  readonly istio: boolean;
  readonly set?: readonly string[];
}

/** The OTLP endpoint the log-shipping profile sends to (a Loki 3 OTLP URL). */
export const logShippingEndpoint = "http://loki-gateway.logging.svc.cluster.local/otlp";

/** Every profile the chart supports: kind and production, each with Istio off and on. */
export const profiles: readonly Profile[] = [
  { name: "kind", valuesFile: "values-kind.yaml", istio: false },
  { name: "kind+istio", valuesFile: "values-kind.yaml", istio: true },
  { name: "prod", valuesFile: "values-prod.yaml", istio: false },
  { name: "prod+istio", valuesFile: "values-prod.yaml", istio: true },
  // Production with the in-cluster 3-node NATS instead of an external one.
  { name: "prod+istio+nats", valuesFile: "values-prod.yaml", istio: true, set: ["nats.enabled=true"] },
  // Production with log shipping on (the collector DaemonSet; see tests/deploy/logging.test.ts).
  {
    name: "prod+istio+logs",
    valuesFile: "values-prod.yaml",
    istio: true,
    set: ["logShipping.enabled=true", `logShipping.otlp.endpoint=${logShippingEndpoint}`],
  },
];

let helmPath: string | undefined;

/** .tools/bin/helm, fetched by scripts/tools/helm.sh when missing. */
export function helm(): string {
  if (helmPath) return helmPath;
  const path = join(repo, ".tools/bin/helm");
  if (!existsSync(path)) execFileSync("bash", [join(repo, "scripts/tools/helm.sh")], { stdio: "inherit" });
  helmPath = path;
  return path;
}

/** Runs helm and returns its stdout; throws with stderr on failure. */
export function runHelm(args: readonly string[]): string {
  return execFileSync(helm(), args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd: repo });
}

/** helm arguments selecting a profile. */
export function profileArgs(profile: Profile): string[] {
  const args = ["-f", join(chartDir, profile.valuesFile), "--set", `istio.enabled=${profile.istio}`];
  for (const value of profile.set ?? []) args.push("--set", value);
  return args;
}

/** Parses a multi-document YAML stream into objects (empty documents dropped). */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join("\n"));
      return doc.toJSON() as K8sObject | null;
    })
    .filter((obj): obj is K8sObject => obj !== null && typeof obj === "object");
}

const rendered = new Map<string, K8sObject[]>();

/** `helm template` for a profile, parsed (cached per profile and extra args). */
export function render(profile: Profile, extra: readonly string[] = []): K8sObject[] {
  const key = `${profile.name}|${extra.join(" ")}`;
  const cached = rendered.get(key);
  if (cached) return cached;
  const text = runHelm([
    "template",
    releaseName,
    chartDir,
    "-n",
    namespace,
    ...profileArgs(profile),
    ...extra,
  ]);
  const objects = parseObjects(text);
  rendered.set(key, objects);
  return objects;
}

/** The chart's default values. */
export interface ChartValues {
  callGraph: Record<string, string[]>;
  services: Record<
    string,
    {
      grpcPort: number;
      adminPort: number;
      apis: string[];
      database?: boolean;
      nats?: boolean;
      edge?: boolean;
    }
  >;
  retryBudget: { appAttemptsWithoutMesh: number; maxAttemptsPerCall: number };
  jwt: { issuer: string; audience: string };
  image: { registry: string; prefix: string };
}

export function chartValues(): ChartValues {
  return parseYaml(readFileSync(join(chartDir, "values.yaml"), "utf8")) as ChartValues;
}

/** The name of a component's objects in a release named {@link releaseName}. */
export function objectName(component: string): string {
  return `${releaseName}-${component}`;
}

/** Finds one object by kind and name. */
export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/** Module that holds the model class for an apiVersion/kind, or undefined when none is known. */
export function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.includes(".istio.io/")) return `@kubernetes-models/istio/${apiVersion}/${kind}`;
  if (apiVersion.startsWith("monitoring.coreos.com/"))
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/**
 * Validates an object against its schema (kubernetes-models for Kubernetes 1.33,
 * @kubernetes-models/istio for Istio, @kubernetes-models/prometheus-operator for its CRDs); throws
 * with the schema errors.
 */
export async function validateObject(obj: K8sObject): Promise<void> {
  const specifier = modelModule(obj.apiVersion, obj.kind);
  const module = (await import(/* @vite-ignore */ specifier)) as Record<
    string,
    new (
      data: unknown,
    ) => { validate(): void }
  >;
  const Model = module[obj.kind];
  if (!Model) throw new Error(`no model ${obj.kind} in ${specifier}`);
  new Model(obj).validate();
}

/** The pod spec of a workload (Deployment, StatefulSet, Job), or undefined. */
// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary JSON
export function podSpec(obj: K8sObject): any {
  if (["Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"].includes(obj.kind)) {
    return obj.spec?.template?.spec;
  }
  return undefined;
}

/** Every .ts file under `dir`, tests and node_modules excluded. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry === "testing") continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (entry.endsWith(".ts") && !entry.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/** Directory of a component's package. */
export function componentDir(component: string): string {
  return component === "gateway" ? join(repo, "gateway") : join(repo, "services", component);
}

/** Components (services and the gateway) that exist in the tree, by their src/main.ts. */
export function componentsInTree(): string[] {
  const services = readdirSync(join(repo, "services")).filter((name) =>
    existsSync(join(repo, "services", name, "src/main.ts")),
  );
  return existsSync(join(repo, "gateway/src/main.ts")) ? [...services, "gateway"] : services;
}

/**
 * The upstreams a component's code really calls, read from its sources:
 * - a `<NAME>_ADDRESS` variable it reads (a literal, as in services' config.ts),
 * - a `<name>Address` setting in its config (the gateway builds the variable name from it),
 * - a client module `src/clients/<name>.ts` that calls `createServiceClient(`.
 * Only names of known components count. Returns the names with where each was found.
 */
export function upstreamsInCode(component: string, known: readonly string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (name: string, where: string) => {
    if (!known.includes(name) || name === component) return;
    found.set(name, [...(found.get(name) ?? []), where]);
  };
  const dir = componentDir(component);
  for (const file of sourceFiles(join(dir, "src"))) {
    const text = readFileSync(file, "utf8");
    const where = relative(repo, file);
    for (const match of text.matchAll(/["'`]([A-Z][A-Z0-9]*)_ADDRESS["'`]/g))
      add(match[1]!.toLowerCase(), where);
    if (file.endsWith("config.ts")) {
      for (const match of text.matchAll(/\b([a-z]+)Address\s*:/g)) add(match[1]!, where);
    }
  }
  const clients = join(dir, "src/clients");
  if (existsSync(clients)) {
    for (const entry of readdirSync(clients)) {
      if (!entry.endsWith(".ts") || entry.endsWith(".test.ts")) continue;
      const text = readFileSync(join(clients, entry), "utf8");
      if (text.includes("createServiceClient(")) add(entry.replace(/\.ts$/, ""), `src/clients/${entry}`);
    }
  }
  return found;
}

/**
 * Every environment variable a component's code reads: the variable names in its config.ts and, for
 * services, in the platform's shared serviceSettings, plus `<NAME>_ADDRESS` for its upstreams.
 */
export function variablesInCode(component: string, upstreams: readonly string[]): Set<string> {
  const names = new Set<string>();
  const collect = (file: string) => {
    if (!existsSync(file)) return;
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/["'`]([A-Z][A-Z0-9_]+)["'`]/g)) names.add(match[1]!);
  };
  collect(join(componentDir(component), "src/config.ts"));
  if (component !== "gateway") collect(join(repo, "packages/platform/src/config/index.ts"));
  for (const upstream of upstreams) names.add(`${upstream.toUpperCase()}_ADDRESS`);
  return names;
}
