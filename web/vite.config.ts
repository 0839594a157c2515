/**
 * Builds the storefront into dist/ (hashed assets under dist/assets, which the gateway serves as
 * immutable). Vite compiles the TSX with React's automatic JSX runtime; no React plugin is needed.
 * `pnpm --filter @mercato/web dev` serves it with hot reload and proxies the API to the gateway.
 */
import { defineConfig } from "vite";

const gateway = process.env.MERCATO_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline scripts or styles, so the edge's CSP can forbid them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { "^/mercato\\.": { target: gateway, changeOrigin: true } },
  },
});
