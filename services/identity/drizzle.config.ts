import { defineConfig } from "drizzle-kit";

// `pnpm db:generate` writes a new versioned migration to ./drizzle from the schema; runService applies them.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./drizzle",
  casing: "snake_case",
});
