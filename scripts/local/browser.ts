// Headless Chromium for the page tests: the system's Chromium driven by playwright-core.
import { execFileSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";

export function chromiumPath(): string {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch {
      /* try the next name */
    }
  }
  throw new Error('Chromium is not installed: run "bash scripts/bootstrap.sh --test" (it installs Debian\'s chromium)');
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // The caller owns shutdown: Playwright's own Ctrl-C handler exits the process before its cleanup runs.
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
    // No background traffic: this machine, like CI, reaches nothing but loopback.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}
