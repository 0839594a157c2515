import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Message appended to every "tool missing" error. */
export const BOOTSTRAP_HINT = "run `bash scripts/bootstrap.sh` at the repository root to install it";

let cachedRoot: string | undefined;

/**
 * The monorepo root: the nearest directory above this package holding `pnpm-workspace.yaml`.
 */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error("@mercato/testing: cannot find the repository root (pnpm-workspace.yaml)");
    dir = parent;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directories {@link findTool} searches, in order: `<repo>/.tools/bin` (where `scripts/bootstrap.sh`
 * installs), Go's install directories (`$GOBIN`, each `$GOPATH/bin`, `~/go/bin`, `/root/go/bin`), then `$PATH`.
 */
export function toolSearchPath(): string[] {
  const dirs = [join(repoRoot(), ".tools", "bin")];
  if (process.env.GOBIN) dirs.push(process.env.GOBIN);
  for (const p of (process.env.GOPATH ?? "").split(delimiter)) if (p) dirs.push(join(p, "bin"));
  dirs.push(join(homedir(), "go", "bin"), "/root/go/bin");
  for (const p of (process.env.PATH ?? "").split(delimiter)) if (p) dirs.push(p);
  return [...new Set(dirs.map((d) => resolve(d)))];
}

/**
 * Locates an executable by name along {@link toolSearchPath}.
 *
 * @param name - the binary's file name, e.g. `"nats-server"` or `"grpcurl"`
 * @returns its absolute path, or `undefined` when it is nowhere to be found
 */
export function findTool(name: string): string | undefined {
  for (const dir of toolSearchPath()) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Like {@link findTool}, but throws an error telling the user to run `scripts/bootstrap.sh` when the
 * tool is missing.
 */
export function requireTool(name: string): string {
  const found = findTool(name);
  if (found === undefined) {
    throw new Error(
      `@mercato/testing: \`${name}\` not found (searched ${toolSearchPath().join(", ")}); ${BOOTSTRAP_HINT}`,
    );
  }
  return found;
}

/**
 * The `bin` directory of the newest PostgreSQL server installed (Debian layout
 * `/usr/lib/postgresql/<major>/bin`), or the directory of `postgres`/`initdb` found by {@link findTool}.
 *
 * @throws when no PostgreSQL server is installed
 */
export function postgresBinDir(): string {
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const majors = readdirSync(base)
      .filter(
        (v) => isExecutable(join(base, v, "bin", "initdb")) && isExecutable(join(base, v, "bin", "postgres")),
      )
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0] !== undefined) return join(base, majors[0], "bin");
  }
  const initdb = findTool("initdb");
  if (initdb !== undefined && isExecutable(join(dirname(initdb), "postgres"))) return dirname(initdb);
  throw new Error(`@mercato/testing: no PostgreSQL server (initdb) installed; ${BOOTSTRAP_HINT}`);
}
