/**
 * The browser side of the storefront tests: Debian's chromium driven by playwright-core (playwright's
 * own browser downloads need a CDN these machines cannot reach), the storefront build, and
 * screenshots saved as test artifacts.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, requireTool } from "@mercato/testing";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Where screenshots go (gitignored; CI keeps them as artifacts). */
export const artifactsDir = join(repoRoot(), "tests/browser/artifacts");

/** A phone-sized viewport (iPhone 12–15 CSS pixels). */
export const phone = { width: 390, height: 844 } as const;

/** Builds web/ when its build is missing or stale (the same script `pnpm start` runs). */
export function buildStorefront(): void {
  execFileSync("bash", [join(repoRoot(), "web/build.sh")], { stdio: "inherit" });
}

/** A headless chromium; each actor (shopper, admin) gets a context of its own (own storage). */
export interface TestBrowser {
  /** A new page in a fresh context (its own localStorage), at `baseUrl`. */
  newActor(baseUrl: string, viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Launches Debian's chromium (installed by scripts/tools/chromium.sh), headless and without the
 * sandbox (tests run as root in CI), with everything that would reach the network turned off.
 * playwright gives each launch a fresh temporary profile (--user-data-dir) and removes it on close.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = requireTool("chromium");
  const browser: Browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const contexts: BrowserContext[] = [];
  return {
    async newActor(baseUrl, viewport = { width: 1280, height: 860 }) {
      const context = await browser.newContext({ baseURL: baseUrl, viewport, locale: "en-US" });
      context.setDefaultTimeout(30_000);
      contexts.push(context);
      return context.newPage();
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser.close();
    },
  };
}

/** Saves a full-page screenshot as `artifacts/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
