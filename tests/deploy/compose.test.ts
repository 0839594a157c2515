/**
 * compose.yaml and compose.dev.yaml, checked without a Docker engine: against the Compose
 * specification's JSON schema (the copy dclint ships), and against the rendered chart: the same
 * components, images, builds, ports and environment variable names, migrations run the chart's way,
 * a sound depends_on/health chain, health checks that work with the image's own node, a NATS config
 * nats-server accepts, and no secret with a default that is not a local-only value.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { requireTool } from "@mercato/testing";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  chartDir,
  chartValues,
  find,
  objectName,
  podSpec,
  profiles,
  render,
  repo,
  variablesInCode,
} from "./support.js";

// biome-ignore lint/suspicious/noExplicitAny: a Compose file is arbitrary YAML; the schema checks its shape
type Compose = any;

const run = promisify(execFile);
const values = chartValues();
const components = Object.keys(values.services);
const appVersion = String(
  (parseYaml(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as { appVersion: string }).appVersion,
);

/** Parses a Compose file as docker compose does: YAML 1.1 merge keys (`<<: *anchor`) resolved. */
function loadCompose(file: string): Compose {
  return parseYaml(readFileSync(join(repo, file), "utf8"), { merge: true });
}

const interpolation = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** One `${NAME...}` reference in a value. */
interface Reference {
  readonly name: string;
  readonly fallback?: string;
  readonly required: boolean;
}

/** The variable references in a string, as Compose reads them (`$$` is a literal `$`). */
function referencesIn(text: string): Reference[] {
  const found: Reference[] = [];
  for (const match of text.matchAll(interpolation)) {
    if (match[0] === "$$") continue;
    const name = match[1] ?? match[4]!;
    const operator = match[2];
    found.push({
      name,
      required: operator?.endsWith("?") ?? false,
      ...(operator?.endsWith("-") ? { fallback: match[3] ?? "" } : {}),
    });
  }
  return found;
}

/** Compose interpolation of one string against `env` (an unset variable with no default is an error). */
function interpolate(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(interpolation, (whole, braced, operator, argument, bare) => {
    if (whole === "$$") return "$";
    const name: string = braced ?? bare;
    const value = env[name];
    const unset = value === undefined || (operator?.startsWith(":") && value === "");
    if (!unset) return value!;
    if (operator?.endsWith("-")) return argument ?? "";
    throw new Error(`${name} is not set and has no default (${whole})`);
  });
}

/** Every string leaf of a document, with its path. */
function stringLeaves(node: unknown, path = ""): [string, string][] {
  if (typeof node === "string") return [[path, node]];
  if (Array.isArray(node)) return node.flatMap((item, i) => stringLeaves(item, `${path}[${i}]`));
  if (node && typeof node === "object") {
    return Object.entries(node).flatMap(([key, value]) => stringLeaves(value, path ? `${path}.${key}` : key));
  }
  return [];
}

/** The document with every string interpolated against `env` (keys are never interpolated). */
function resolve(node: unknown, env: Readonly<Record<string, string>>): Compose {
  if (typeof node === "string") return interpolate(node, env);
  if (Array.isArray(node)) return node.map((item) => resolve(item, env));
  if (node && typeof node === "object") {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolve(value, env)]));
  }
  return node;
}

/** The container ports a service publishes (`[ip:]host:container` or long syntax). */
function containerPorts(service: Compose): number[] {
  return (service.ports ?? []).map((port: Compose) =>
    typeof port === "object" ? Number(port.target) : Number(String(port).split(":").at(-1)),
  );
}

/** depends_on as name → condition (the short list syntax means service_started). */
function dependencies(service: Compose): Map<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return new Map(deps.map((name: string) => [name, "service_started"]));
  return new Map(
    Object.entries(deps).map(([name, d]) => [name, (d as Compose).condition ?? "service_started"]),
  );
}

function envNames(container: Compose): string[] {
  return (container.env ?? []).map((e: { name: string }) => e.name);
}

const rawBase = loadCompose("compose.yaml");
const rawDev = loadCompose("compose.dev.yaml");
// With no .env at all, the defaults must make a working file.
const base = resolve(rawBase, {});
const dev = resolve(rawDev, {});
const envExample = new Map(
  readFileSync(join(repo, ".env.example"), "utf8")
    .split("\n")
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
);
const withDatabase = components.filter((c) => values.services[c]!.database);

describe("compose.yaml", () => {
  it("is valid against the Compose specification, alone and with compose.dev.yaml", () => {
    const dclint = dirname(createRequire(import.meta.url).resolve("dclint/package.json"));
    const schemaFile = join(dclint, "schemas/compose.schema.json");
    const { $schema: dialect, ...schema } = JSON.parse(readFileSync(schemaFile, "utf8"));
    expect(schema.title).toBe("Compose Specification");
    // Ajv's default dialect is draft-07 but it knows the meta-schema by its http://…# id only.
    expect(dialect).toMatch(/json-schema\.org\/draft-07\/schema/);
    // strict: false because the specification uses annotation keywords draft-07 does not define.
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    for (const [file, document] of [
      ["compose.yaml", base],
      ["compose.dev.yaml", dev],
    ] as const) {
      const ok = validate(document);
      expect(validate.errors ?? [], file).toEqual([]);
      expect(ok, file).toBe(true);
    }
    // The schema really rejects a wrong file (so the pass above means something).
    expect(validate({ services: { x: { depends_on: { y: { condition: "service_ready" } } } } })).toBe(false);
  });

  it("runs every component of the chart from the chart's image, built from the Dockerfile", () => {
    const apps = Object.keys(base.services).filter((name) => !["postgres", "nats"].includes(name));
    const expected = [...components, ...withDatabase.map((c) => `${c}-migrate`)];
    expect(apps.sort()).toEqual(expected.sort());
    for (const component of components) {
      const image = `${values.image.registry}/${values.image.prefix}${component}:${appVersion}`;
      for (const name of [component, `${component}-migrate`]) {
        const service = base.services[name];
        if (!service) continue;
        expect(service.image, name).toBe(image);
        expect(service.build, name).toEqual({
          context: ".",
          dockerfile: "Dockerfile",
          args: { SERVICE: component },
        });
        expect(service.command, `${name} keeps the image's CMD`).toBeUndefined();
      }
    }
    const chartObjects = render(profiles[0]!);
    const imageOf = (kind: string, name: string) =>
      podSpec(find(chartObjects, kind, name)!).containers[0].image as string;
    // Backing services use the same images as the chart's in-cluster ones.
    expect(base.services.postgres.image).toBe(imageOf("StatefulSet", objectName("postgres")));
    expect(base.services.nats.image).toBe(imageOf("StatefulSet", objectName("nats")));
  });

  it("publishes each component's ports as the chart declares them, on 127.0.0.1 only", () => {
    for (const component of components) {
      const s = values.services[component]!;
      expect(containerPorts(base.services[component]).sort(), component).toEqual(
        [s.grpcPort, s.adminPort].sort(),
      );
    }
    expect(base.services.gateway.ports).toContain("127.0.0.1:8080:8080");
    for (const [name, service] of Object.entries<Compose>(base.services)) {
      for (const port of service.ports ?? []) {
        const hostIp = typeof port === "object" ? port.host_ip : String(port).split(":")[0];
        expect(hostIp, `${name} ${JSON.stringify(port)}`).toBe("127.0.0.1");
      }
    }
  });

  it("sets the environment variable names the chart sets, with the chart's ports and upstreams", () => {
    const objects = render(profiles[0]!);
    const config = find(objects, "ConfigMap", `${objectName("config")}`)!;
    for (const component of components) {
      const s = values.services[component]!;
      const [container] = podSpec(find(objects, "Deployment", objectName(component))!).containers;
      const inChart = [...envNames(container), ...Object.keys(config.data)];
      const env: Record<string, string> = base.services[component].environment;
      const inCompose = Object.keys(env);
      expect(
        inChart.filter((name) => !inCompose.includes(name)),
        `${component}: chart variables missing in compose`,
      ).toEqual([]);
      const known = variablesInCode(component, values.callGraph[component] ?? []);
      const extra = inCompose.filter((name) => !inChart.includes(name));
      expect(
        extra.filter((name) => !known.has(name)),
        `${component}: compose sets variables its code does not read`,
      ).toEqual([]);

      expect(env.ADMIN_PORT).toBe(String(s.adminPort));
      expect(env[s.edge ? "PORT" : "GRPC_PORT"]).toBe(String(s.grpcPort));
      expect(env.MESH).toBe("none");
      for (const upstream of values.callGraph[component] ?? []) {
        expect(env[`${upstream.toUpperCase()}_ADDRESS`]).toBe(
          `${upstream}:${values.services[upstream]!.grpcPort}`,
        );
      }
      if (s.database) {
        expect(env.DATABASE_URL).toMatch(new RegExp(`@postgres:5432/mercato_${component}$`));
      }
      if (s.nats) expect(env.NATS_URL).toBe("nats://nats:4222");
    }
  });

  it("runs each service's migrations the chart's way: its image with MIGRATE_ONLY, before it starts", () => {
    const objects = render(profiles[0]!);
    for (const component of withDatabase) {
      const job = find(objects, "Job", `${objectName(component)}-migrate`)!;
      const [container] = podSpec(job).containers;
      const migrate = base.services[`${component}-migrate`];
      expect(Object.keys(migrate.environment).sort()).toEqual(envNames(container).sort());
      expect(migrate.environment.MIGRATE_ONLY).toBe("true");
      expect(migrate.environment.DATABASE_URL).toBe(base.services[component].environment.DATABASE_URL);
      expect(migrate.restart).toBe("no");
      expect(dependencies(base.services[component]).get(`${component}-migrate`)).toBe(
        "service_completed_successfully",
      );
    }
    // One database per service, created on first start by the init script the postgres image runs.
    const init = readFileSync(join(repo, "scripts/compose/postgres-init/01-databases.sql"), "utf8");
    const created = [...init.matchAll(/^CREATE DATABASE (\w+);$/gm)].map((m) => m[1]);
    expect(created.sort()).toEqual(withDatabase.map((c) => `mercato_${c}`).sort());
    expect(base.services.postgres.volumes).toContain(
      "./scripts/compose/postgres-init:/docker-entrypoint-initdb.d:ro",
    );
  });

  it("starts in a sound order: every dependency exists, is healthy or completed, and nothing cycles", () => {
    const services: Record<string, Compose> = base.services;
    for (const [name, service] of Object.entries(services)) {
      const longRunning = service.restart !== "no";
      if (longRunning) expect(service.healthcheck?.test, `${name} health check`).toBeDefined();
      for (const [dependency, condition] of dependencies(service)) {
        const target = services[dependency];
        expect(target, `${name} -> ${dependency}`).toBeDefined();
        if (target.restart === "no") {
          expect(condition, `${name} -> ${dependency}`).toBe("service_completed_successfully");
        } else {
          expect(condition, `${name} -> ${dependency}`).toBe("service_healthy");
        }
      }
    }
    for (const component of components) {
      const s = values.services[component]!;
      const deps = dependencies(services[component]);
      const expected = [
        ...(values.callGraph[component] ?? []),
        ...(s.database ? ["postgres", `${component}-migrate`] : []),
        ...(s.nats ? ["nats"] : []),
      ];
      expect([...deps.keys()].sort(), component).toEqual(expected.sort());
    }
    for (const component of withDatabase) {
      expect([...dependencies(services[`${component}-migrate`]).keys()]).toEqual(["postgres"]);
    }
    // Depth-first search for a cycle.
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string, trail: string[]): void => {
      if (state.get(name) === "done") return;
      expect(state.get(name), `cycle: ${[...trail, name].join(" -> ")}`).not.toBe("visiting");
      state.set(name, "visiting");
      for (const dependency of dependencies(services[name]).keys()) visit(dependency, [...trail, name]);
      state.set(name, "done");
    };
    for (const name of Object.keys(services)) visit(name, []);
  });

  it("health-checks each component's admin /readyz with the image's node (no curl in the image)", async () => {
    // Every component runs one script, differing only in its admin port: check that, then run it.
    const scriptFor = (component: string) => {
      const [kind, node, flag, script] = base.services[component].healthcheck.test;
      expect([kind, node, flag], component).toEqual(["CMD", "node", "-e"]);
      const url = `http://127.0.0.1:${values.services[component]!.adminPort}/readyz`;
      expect(script, component).toContain(url);
      return (target: string): string => script.replace(url, target);
    };
    const scripts = components.map(scriptFor);
    expect(new Set(scripts.map((at) => at("URL"))).size).toBe(1);
    const check = scripts[0]!;

    const calls: string[] = [];
    let status = 200;
    const server = createServer((request, response) => {
      calls.push(request.url ?? "");
      response.writeHead(request.url === "/readyz" ? status : 404).end();
    });
    await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
    const readyz = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`;
    const exitCode = (target: string) =>
      run(process.execPath, ["-e", check(target)]).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
    try {
      expect(await exitCode(readyz), "ready").toBe(0);
      status = 503;
      expect(await exitCode(readyz), "not ready").toBe(1);
      expect(calls).toEqual(["/readyz", "/readyz"]);
    } finally {
      await new Promise((closed) => server.close(closed));
    }
    // Nothing listening: the check fails instead of hanging or passing.
    expect(await exitCode(readyz), "no server").toBe(1);
  });

  it("gives NATS JetStream on a named volume with a config nats-server accepts", () => {
    const nats = base.services.nats;
    expect(nats.volumes).toContain("nats-data:/data");
    expect(Object.keys(base.volumes).sort()).toEqual(["nats-data", "postgres-data"]);
    expect(base.services.postgres.volumes).toContain("postgres-data:/var/lib/postgresql/data");
    const conf = readFileSync(join(repo, "scripts/compose/nats.conf"), "utf8");
    expect(conf).toMatch(/store_dir: \/data\/jetstream/);
    expect(conf).toMatch(/sync_interval: always/);
    expect(nats.volumes).toContain("./scripts/compose/nats.conf:/etc/nats/mercato.conf:ro");
    expect(nats.command).toEqual(["--config", "/etc/nats/mercato.conf"]);
    const dir = mkdtempSync(join(tmpdir(), "compose-nats-"));
    try {
      const file = join(dir, "nats.conf");
      writeFileSync(file, conf.replaceAll("/data/jetstream", join(dir, "js")));
      execFileSync(requireTool("nats-server"), ["-t", "-c", file], { stdio: ["ignore", "pipe", "pipe"] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has no secret with a default other than a local-only value documented in .env.example", () => {
    const secretName = /PASSWORD|SECRET|TOKEN|PRIVATE|(^|_)KEY$/;
    const checked: string[] = [];
    for (const [file, document] of [
      ["compose.yaml", rawBase],
      ["compose.dev.yaml", rawDev],
    ] as const) {
      for (const [path, value] of stringLeaves(document)) {
        const name = path.split(".").at(-1)!;
        // The secret parts of a value: the whole value of a secret-named variable, the password of a URL.
        const secrets = secretName.test(name) ? [value] : [];
        const url = /^[a-z]+:\/\/[^:/@]+:([^@]+)@/.exec(value);
        if (url) secrets.push(url[1]!);
        for (const secret of secrets) {
          const where = `${file} ${path}`;
          const refs = referencesIn(secret);
          expect(refs.length === 1 && secret === `\${${refs[0]!.name}:-${refs[0]!.fallback}}`, where).toBe(
            true,
          );
          const { name: variable, fallback } = refs[0]!;
          expect(envExample.get(variable), `${where}: ${variable} in .env.example`).toBe(fallback);
          expect(fallback, `${where}: a local-only value`).toMatch(/^mercato-[a-z]+$/);
          checked.push(variable);
        }
      }
    }
    expect(new Set(checked)).toEqual(new Set(["POSTGRES_PASSWORD", "MERCATO_DEMO_ADMIN_PASSWORD"]));
    expect(readFileSync(join(repo, ".env.example"), "utf8")).toMatch(/LOCAL-ONLY/);
    // Every variable compose.yaml reads is documented in .env.example with the same default.
    for (const [, value] of stringLeaves(rawBase)) {
      for (const ref of referencesIn(value)) {
        expect(envExample.get(ref.name), ref.name).toBe(ref.fallback);
      }
    }
  });
});

describe("compose.dev.yaml", () => {
  const watchPaths = (command: string[]) =>
    command.filter((arg) => arg.startsWith("--watch-path=")).map((arg) => arg.slice("--watch-path=".length));

  it("overrides only components of compose.yaml, with the image's command in watch mode", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(repo, "Dockerfile"), "utf8"))?.[1];
    const imageCommand: string[] = JSON.parse(cmd!);
    expect(Object.keys(dev.services).sort()).toEqual([...components].sort());
    for (const component of components) {
      const command: string[] = dev.services[component].command;
      expect(
        command.filter((arg) => !arg.startsWith("--watch-path=")),
        component,
      ).toEqual(imageCommand);
      expect(watchPaths(command).length).toBeGreaterThan(0);
    }
  });

  it("mounts existing source folders read-only at the paths the image runs them from", () => {
    for (const component of components) {
      const mounts: Compose[] = dev.services[component].volumes;
      const dir = component === "gateway" ? "gateway" : `services/${component}`;
      // Its own src/ at /app/src, and each workspace package it depends on where `pnpm deploy` links it.
      const pkg = JSON.parse(readFileSync(join(repo, dir, "package.json"), "utf8"));
      const workspace = Object.keys(pkg.dependencies ?? {}).filter((name) => name.startsWith("@mercato/"));
      expect(workspace.length, component).toBeGreaterThan(0);
      const expected = new Map([
        [`./${dir}/src`, "/app/src"],
        ...workspace.map(
          (name) =>
            [`./packages/${name.slice("@mercato/".length)}/src`, `/app/node_modules/${name}/src`] as const,
        ),
      ]);
      expect(new Map(mounts.map((m) => [m.source, m.target])), component).toEqual(expected);
      for (const mount of mounts) {
        expect(mount.type).toBe("bind");
        expect(mount.read_only, mount.source).toBe(true);
        expect(statSync(join(repo, mount.source)).isDirectory(), mount.source).toBe(true);
      }
      // Every mounted folder is watched (the image's working directory is /app).
      const watched = watchPaths(dev.services[component].command).map((p) =>
        p.startsWith("/") ? p : `/app/${p}`,
      );
      expect(watched.sort()).toEqual(mounts.map((m) => m.target).sort());
    }
  });
});

// What the chart's securityContext demands (tests/deploy/chart.test.ts), in Compose terms.
it("runs every Mercato container read-only, with a writable /tmp, no capabilities, no escalation", () => {
  for (const name of Object.keys(base.services).filter((n) => !["postgres", "nats"].includes(n))) {
    const service = base.services[name];
    expect(service.read_only, name).toBe(true);
    expect(service.tmpfs, name).toEqual(["/tmp"]);
    expect(service.cap_drop, name).toEqual(["ALL"]);
    expect(service.security_opt, name).toContain("no-new-privileges:true");
  }
});
