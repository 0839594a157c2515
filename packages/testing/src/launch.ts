import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { decode, encode, type SourceMapSegment } from "@jridgewell/sourcemap-codec";
import { build, type Metafile, type Plugin, stop as stopEsbuild } from "esbuild";
import { repoRoot } from "./tools.js";

/**
 * V8 settings for every service and gateway process. A small young generation (semi-space) keeps an
 * idle process small and collects short-lived request garbage often and cheaply; the old-space cap
 * makes a leak fail loudly long before it hurts the machine.
 */
export const nodeMemoryFlags: readonly string[] = ["--max-semi-space-size=2", "--max-old-space-size=384"];

/**
 * glibc malloc settings for every service and gateway process. By default each thread that allocates
 * gets its own arena, and after a large block is freed the mmap threshold rises to its size, so later
 * blocks of that size stay in the heap for good: identity's scrypt (16 MiB per hash on the libuv
 * threads) left a process at ~130 MiB after a few logins. Two arenas and a fixed threshold hand large
 * blocks back to the system when freed: ~78 MiB, and 20 MiB less for every idle process.
 */
export const mallocEnvironment: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/** Where {@link serviceCommand} puts the bundle of `entry` (`<package>/src/main.ts` → `<package>/dist/main.js`). */
export function bundlePath(entry: string): string {
  const packageDir = dirname(dirname(entry));
  return join(packageDir, "dist", `${basename(entry, ".ts")}.js`);
}

/*
 * Modules find their files relative to themselves: workspace sources their migrations through
 * `import.meta.url`, CommonJS dependencies (grpc-health-check, @grpc/reflection) their .proto files
 * through `__dirname`. Inside a bundle those would name the bundle, so each such module gets its original
 * location baked in: the bundle runs from the checkout it was built in, which is all local runs need.
 */
const keepModuleLocations: Plugin = {
  name: "keep-module-locations",
  setup(esbuild) {
    esbuild.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const usesUrl = source.includes("import.meta.url");
      const usesDirname =
        /\b__(dirname|filename)\b/.test(source) && !/\b(var|let|const)\s+__(dirname|filename)\b/.test(source);
      if (!usesUrl && !usesDirname) return undefined;
      let contents = usesUrl
        ? source.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href))
        : source;
      if (usesDirname) {
        contents = `var __dirname = ${JSON.stringify(dirname(args.path))}, __filename = ${JSON.stringify(args.path)};\n${contents}`;
      }
      return { contents, loader: /\.[cm]?ts$/.test(args.path) ? "ts" : "js" };
    });
  },
};

/**
 * Keeps only the mappings of our own code in a source map: Node decodes a bundle's whole map the first
 * time it formats a stack through it and keeps it, ~30 MiB for a service with every dependency mapped,
 * a few MiB for our own code. Where dependency code starts, one source-less segment marks it unmapped,
 * so its frames show the bundle position instead of the nearest line of ours.
 */
export function withoutDependencyMappings(mapJson: string): string {
  const map = JSON.parse(mapJson) as { sources: string[]; mappings: string };
  const dependency = map.sources.map((source) => source.includes("node_modules/"));
  let mapped = false;
  const lines = decode(map.mappings).map((line) => {
    const kept: SourceMapSegment[] = [];
    for (const segment of line) {
      const ours = segment.length >= 4 && !dependency[segment[1]!];
      if (!ours && !mapped) continue;
      kept.push(ours ? segment : [segment[0]]);
      mapped = ours;
    }
    return kept;
  });
  map.mappings = encode(lines);
  return JSON.stringify(map);
}

/** True when the bundle is missing or any file it was built from changed (or vanished) since. */
function isStale(bundle: string, metafile: string): boolean {
  let builtAt: number;
  let inputs: string[];
  try {
    builtAt = statSync(bundle).mtimeMs;
    inputs = Object.keys((JSON.parse(readFileSync(metafile, "utf8")) as Metafile).inputs);
    // This file is the build recipe: changing it changes every bundle. The lockfile says which
    // dependency versions (and patches) were bundled: a new one may resolve to other folders.
    inputs.push(fileURLToPath(import.meta.url), join(repoRoot(), "pnpm-lock.yaml"));
  } catch {
    return true;
  }
  const root = repoRoot();
  for (const input of inputs) {
    if (input.includes(":")) continue; // esbuild's virtual modules, e.g. "(disabled):fs"
    try {
      if (statSync(isAbsolute(input) ? input : resolve(root, input)).mtimeMs > builtAt) return true;
    } catch {
      return true;
    }
  }
  return false;
}

/** Builds in flight in this process, by bundle path: replicas of one service share one build. */
const building = new Map<string, Promise<string>>();

/**
 * Bundles a service's or the gateway's entry point into one ES module with a source map (esbuild, all
 * dependencies included), unless the bundle is newer than every file it was built from.
 * Files are written under temporary names and renamed, so concurrent callers never see half a bundle.
 *
 * @param entry - absolute path of `<package>/src/main.ts`
 * @returns the bundle's path
 */
export function ensureBundle(entry: string): Promise<string> {
  const bundle = bundlePath(entry);
  let pending = building.get(bundle);
  if (!pending) {
    pending = buildWhenStale(entry, bundle).finally(() => {
      building.delete(bundle);
      // esbuild keeps a helper process (~180 MiB after a build) until told to stop.
      if (building.size === 0) stopEsbuild();
    });
    building.set(bundle, pending);
  }
  return pending;
}

async function buildWhenStale(entry: string, bundle: string): Promise<string> {
  const metafile = `${bundle}.meta.json`;
  if (!isStale(bundle, metafile)) return bundle;
  const root = repoRoot();
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    // Less source text for every process to hold; names stay (errors and logs show class names).
    minifyWhitespace: true,
    minifySyntax: true,
    // Stack traces need only the mappings; the sources are in the checkout.
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: "error",
    // Bundled CommonJS dependencies call require() for Node built-ins.
    banner: {
      js: 'import { createRequire as __mercatoCreateRequire } from "node:module"; const require = __mercatoCreateRequire(import.meta.url);',
    },
    plugins: [keepModuleLocations],
  });
  mkdirSync(dirname(bundle), { recursive: true });
  // The bundle goes last: its mtime is what isStale compares against.
  const outputs = [
    ...result.outputFiles.filter((file) => file.path !== bundle),
    ...result.outputFiles.filter((file) => file.path === bundle),
  ];
  const files: [string, string | Uint8Array][] = [
    [metafile, JSON.stringify(result.metafile)],
    ...outputs.map((file): [string, string | Uint8Array] => [
      file.path,
      file.path.endsWith(".map") ? withoutDependencyMappings(file.text) : file.contents,
    ]),
  ];
  for (const [path, contents] of files) {
    const temporary = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(temporary, contents);
    renameSync(temporary, path);
  }
  return bundle;
}

/**
 * The command that runs a service or the gateway: `node` with source maps and {@link nodeMemoryFlags}
 * on the entry's bundle, built first when stale (see {@link ensureBundle}), under
 * {@link mallocEnvironment}. `env` sets the latter and then becomes node (exec: same process id, so
 * signals, pause and kill reach node itself). `startSystem` uses it, so `pnpm start` and the
 * whole-system tests run processes the same way.
 *
 * @param entry - absolute path of `<package>/src/main.ts`
 * @returns `[executable, args]` for {@link spawnProcess}
 */
export async function serviceCommand(entry: string): Promise<[string, string[]]> {
  const bundle = await ensureBundle(entry);
  const malloc = Object.entries(mallocEnvironment).map(([name, value]) => `${name}=${value}`);
  return ["env", [...malloc, process.execPath, "--enable-source-maps", ...nodeMemoryFlags, bundle]];
}
