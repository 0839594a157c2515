// A tiny entry point for launch.test.ts: reads a file next to its source (not next to its bundle in
// dist/), as services read their migrations, and reports what its process looks like.
import { readFileSync } from "node:fs";
import postgres from "postgres"; // a dependency, so the bundle's source map has node_modules sources

const note = readFileSync(new URL("./note.txt", import.meta.url), "utf8").trim();
process.stdout.write(
  `${JSON.stringify({ note, arenas: process.env.MALLOC_ARENA_MAX, pid: process.pid, dependency: typeof postgres })}\n`,
);
