// The page leg of the rehearsal: a person in Chromium at the CloudFront address signs in, adds a
// .torrent file, and waits for the job's links.
import { launchBrowser } from "../local/browser.ts";

/** Adds `torrent` through the page at `url` and resolves each file's link (href) once the job shows them. */
export async function addThroughPage(o: { url: string; token: string; torrent: Buffer; name: string; files: string[]; timeoutMs: number; signal: AbortSignal }): Promise<Map<string, string>> {
  o.signal.throwIfAborted();
  const browser = await launchBrowser();
  // Closing the browser ends every wait below.
  const stop = () => void browser.close();
  o.signal.addEventListener("abort", stop, { once: true });
  try {
    const page = await browser.newPage();
    await page.goto(o.url);
    await page.getByLabel("API token").fill(o.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Add" }).waitFor();
    await page.getByLabel("Torrent file").setInputFiles({ name: `${o.name}.torrent`, mimeType: "application/x-bittorrent", buffer: o.torrent });
    await page.getByRole("button", { name: "Add" }).click();
    const row = page.getByRole("listitem").filter({ has: page.getByText(o.name, { exact: true }) });
    const links = new Map<string, string>();
    for (const f of o.files) {
      const link = row.getByRole("link", { name: f, exact: true });
      await link.waitFor({ timeout: o.timeoutMs });
      links.set(f, (await link.getAttribute("href"))!);
    }
    return links;
  } finally {
    o.signal.removeEventListener("abort", stop);
    await browser.close();
  }
}
