// The page in real Chromium against the real local stack. Every test also checks that the browser
// logged no error and opened no dialog it was not meant to.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchBrowser } from "../../scripts/local/browser.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import type { MadeTorrent } from "../support/torrents.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

const shots = join(repoRoot, "test-results", "screenshots");
let s: TestStack;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let errors: string[];
let dialogs: string[];

async function newPage(viewport = { width: 1280, height: 860 }): Promise<Page> {
  ctx = await browser.newContext({ viewport });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: s.url });
  const p = await ctx.newPage();
  p.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  p.on("pageerror", (e) => errors.push(String(e)));
  p.on("dialog", (d) => { dialogs.push(d.message()); void d.accept(); });
  return p;
}

async function signIn(p: Page): Promise<void> {
  await p.goto(s.url);
  await p.getByLabel("API token").fill(s.apiToken);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("button", { name: "Add" }).waitFor();
}

const job = (name: string) => page.getByRole("listitem").filter({ has: page.getByText(name, { exact: true }) });

async function checkLinks(made: MadeTorrent): Promise<void> {
  for (const f of made.files) {
    const link = job(made.name).getByRole("link", { name: f.path, exact: true });
    await link.waitFor({ timeout: 60_000 });
    const res = await fetch((await link.getAttribute("href"))!);
    assert.equal(res.status, 200);
    assert.equal(createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex"), made.sha256.get(f.path), f.path);
  }
}

/** Chromium logs every 4xx answer to fetch() as a console error; tests that expect one drop just those. */
const expectHttpErrors = (...statuses: number[]) => {
  errors = errors.filter((e) => !statuses.some((st) => e === `Failed to load resource: the server responded with a status of ${st} (${statusText[st]})`));
};
const statusText: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized" };

describe("the page", () => {
  // Inside the suite, so they run before the shared stack stops.
  before(async () => {
    s = await testStack();
    browser = await launchBrowser();
    await mkdir(shots, { recursive: true });
    // A capped download rate, so progress is there to be seen between start and finish.
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "3072" });
  });

  after(async () => {
    await browser?.close();
    await s.seedbox.stop();
    await s.startSeedbox();
  });

  beforeEach(async () => {
    errors = [];
    dialogs = [];
    page = await newPage();
  });

  afterEach(async () => {
    await ctx.close();
    assert.deepEqual(errors, [], "the browser logged errors");
  });

  it("signs in with the API token, from the keyboard, after a wrong token is refused", async () => {
    const first = await page.goto(s.url);
    const weight: Record<string, number> = { html: (await first!.body()).length };
    for (const [k, path] of [["css", "/app.css"], ["js", "/app.js"]]) weight[k!] = (await (await fetch(s.url + path!)).arrayBuffer()).byteLength;
    console.log(`page weight (bytes, uncompressed): ${JSON.stringify(weight)}`);
    await page.getByLabel("API token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That API token is not valid.").waitFor();
    expectHttpErrors(401);
    await page.getByLabel("API token").fill(s.apiToken);
    await page.getByLabel("API token").press("Enter");
    await page.getByRole("button", { name: "Add" }).waitFor();
    await page.getByRole("status").getByText("Live").waitFor();
    const cookies = await ctx.cookies();
    assert.ok(cookies.every((c) => c.httpOnly && c.sameSite === "Strict"), "session cookie is HttpOnly and SameSite=Strict");
    assert.equal(await page.evaluate(() => document.cookie), "", "the session cookie is not readable from script");
  });

  it("adds a .torrent file, shows progress, then links whose bytes are the seeded ones", async () => {
    await signIn(page);
    const made = await s.seed({ name: `page-file-${randomBytes(3).toString("hex")}`, files: [{ path: ["video.bin"], size: 9 * 1024 * 1024 }, { path: ["notes ü.txt"], data: Buffer.from("hello") }] });
    await page.getByLabel("Torrent file").setInputFiles({ name: "page.torrent", mimeType: "application/x-bittorrent", buffer: made.torrent });
    await page.getByRole("button", { name: "Add" }).click();
    const row = job(made.name);
    await row.waitFor();
    // The row can arrive over SSE before the POST answers; the form clears once it has.
    await page.waitForFunction(() => (document.getElementById("file") as HTMLInputElement).value === "", undefined, { timeout: 10_000 });
    // Rows are rebuilt on each change, so look the bar up afresh each time.
    await page.waitForFunction((name) => [...document.querySelectorAll("#jobs li")].some((li) => {
      const bar = li.querySelector("progress");
      return li.querySelector(".name")?.textContent === name && bar !== null && bar.value > 0 && bar.value < 1;
    }), made.name, { timeout: 30_000 });
    await checkLinks(made);
    await row.getByText("Status: Done").waitFor();
    await row.getByRole("button", { name: /^Copy link to .*video\.bin$/ }).click();
    assert.match(await page.evaluate(() => navigator.clipboard.readText()), /\/d\/[0-9a-f]{40}\/.+\?sig=/);
    await page.screenshot({ path: join(shots, "desktop.png"), fullPage: true });
  });

  it("adds a magnet and a URL", async () => {
    await signIn(page);
    const byMagnet = await s.seed({ name: `page-magnet-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 200_000 } });
    await page.getByLabel("Magnet link or URL").fill(s.magnet(byMagnet));
    await page.getByRole("button", { name: "Add" }).click();
    await checkLinks(byMagnet);
    const byUrl = await s.seed({ name: `page-url-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 150_000 } });
    s.files.put(`/page/${byUrl.infoHash}.torrent`, byUrl.torrent);
    await page.getByLabel("Magnet link or URL").fill(`${s.files.base}/page/${byUrl.infoHash}.torrent`);
    await page.getByRole("button", { name: "Add" }).click();
    await checkLinks(byUrl);
  });

  it("says what is wrong inline, and shows the API's own message", async () => {
    await signIn(page);
    const add = page.getByRole("button", { name: "Add" });
    await add.click();
    await page.getByText("Choose a .torrent file, or paste a magnet link or URL.").waitFor();
    await page.getByLabel("Magnet link or URL").fill("hello there");
    await add.click();
    await page.getByText("Paste a magnet link (magnet:?…) or an http(s) URL of a .torrent file.").waitFor();
    await page.getByLabel("Magnet link or URL").fill("");
    await page.getByLabel("Torrent file").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hi") });
    await add.click();
    await page.getByText("That file is not a .torrent file.").waitFor();
    await page.getByLabel("Torrent file").setInputFiles([]);
    await page.getByLabel("Magnet link or URL").fill("magnet:?xt=urn:btih:12345");
    await add.click();
    await page.getByText("This is not a valid magnet link: its info-hash must be 40 hex or 32 base32 characters.").waitFor();
    await page.screenshot({ path: join(shots, "error.png"), fullPage: true });
    expectHttpErrors(400);
  });

  it("shows a torrent named like HTML as text and runs none of it", async () => {
    await signIn(page);
    const name = `<img src=x onerror=alert(1)>${randomBytes(2).toString("hex")}`;
    const made = await s.seed({ name, single: { path: [], size: 1000 } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: made.torrent.toString("base64") })).status, 202);
    await job(name).waitFor();
    await checkLinks(made);
    assert.equal(await page.locator("#jobs img").count(), 0, "no element was made from the name");
    assert.deepEqual(dialogs, [], "no dialog opened");
  });

  it("cancels a job after asking", async () => {
    await signIn(page);
    const name = `page-cancel-${randomBytes(3).toString("hex")}`;
    await page.getByLabel("Magnet link or URL").fill(`magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}&dn=${name}`);
    await page.getByRole("button", { name: "Add" }).click();
    await job(name).getByRole("button", { name: `Cancel ${name}` }).click();
    await job(name).getByText("Status: Cancelled").waitFor();
    assert.equal(dialogs.length, 1);
    assert.match(dialogs[0]!, /^Cancel “page-cancel-/);
  });

  it("reconnects by itself when the event stream is lost", async () => {
    await signIn(page);
    await page.getByRole("status").getByText("Live").waitFor();
    s.ingest.kill("SIGKILL");
    await page.getByRole("status").getByText("Reconnecting…").waitFor();
    await s.startIngest();
    await page.getByRole("status").getByText("Live").waitFor({ timeout: 20_000 });
    const name = `after-reconnect-${randomBytes(3).toString("hex")}`;
    assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}&dn=${name}` })).status, 202);
    await job(name).waitFor();
    // Chromium reports the refused reconnection attempts while ingest was down; those are expected here.
    errors = errors.filter((e) => !/ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY_RESPONSE/.test(e));
  });

  it("is readable on a phone, and signs out", async () => {
    await ctx.close();
    page = await newPage({ width: 390, height: 844 });
    await signIn(page);
    await page.getByRole("listitem").first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390px`);
    await page.screenshot({ path: join(shots, "phone.png"), fullPage: true });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API token").waitFor();
    assert.equal((await page.evaluate(() => fetch("/api/jobs").then((r) => r.status))), 401);
    expectHttpErrors(401);
  });
});
