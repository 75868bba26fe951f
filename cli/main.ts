// t2s: the command-line client of the HTTP API. Reads T2S_URL and T2S_API_TOKEN (or --url, --token).
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import type { ApiClient, SubmitBody } from "../lib/api-client.ts";
import type { Job } from "../lib/job.ts";
import { createLogger } from "../lib/log.ts";
import { CliError, cliClient, exitCodes, serverUrl } from "./client.ts";
import { download, localPath } from "./download.ts";
import { SyncAgent } from "./sync.ts";

const help: Record<string, string> = {
  main: `Usage: t2s <command> [options]

Commands:
  add <file.torrent | magnet | url>...   hand in torrents (one job each); --wait follows them
  ls                                     list jobs, newest first
  show <id>                              one job, with its links
  cancel <id>                            cancel a running job
  rm <id>                                delete a completed job's files from storage now
  get <id> [dir]                         download a job's files (resumes, checks sizes)
  sync <dir> [--category C]... [--watch F]   mirror completed jobs for Sonarr/Radarr (runs for good)

Options for every command:
  --url <url>       the server (default: $T2S_URL, else http://127.0.0.1:8080)
  --token <token>   the API token (default: $T2S_API_TOKEN)
  --token-file <f>  read the API token from a file (default: $T2S_API_TOKEN_FILE); keeps it out of ps
  --allow-http      send the token over plain http to a host other than this machine (a trusted LAN)
  --json            machine-readable output
  -h, --help        help for a command: t2s <command> --help

Exit codes: 0 done; 1 a job failed; 2 bad usage; 3 cancelled; 4 unauthorized; 5 server unreachable;
6 the server refused the request; 7 the job's files have expired.`,
  add: `Usage: t2s add <file.torrent | magnet:?... | https://.../x.torrent>... [--only <glob>]... [--wait] [--callback-url <url>] [--json]

Hands in each torrent as its own job. --only (repeatable) fetches only the files it matches: a glob
without "/" matches file names ("*.mkv"), one with "/" paths in the torrent ("Season 1/*"). A .torrent
with no file matching is refused; a magnet's are matched once its metadata is in. With --wait, shows a progress bar per job (on a terminal) or
plain progress lines (in a pipe), then one line per file: its path and its link. Exits 0 when every job
completed, else with the code of the first that did not.`,
  ls: `Usage: t2s ls [--limit <n>] [--all] [--json]

Lists jobs, newest first: id, status, progress, size and name. --all follows every page.`,
  show: `Usage: t2s show <id> [--json]

Shows one job: its status, and when completed one line per file with its link (and the zip link).`,
  cancel: `Usage: t2s cancel <id> [--json]

Cancels a running job: the seedbox stops it and removes its data.`,
  rm: `Usage: t2s rm <id> [--json]

Deletes a completed job's files from storage now. Its links answer 410 from then on.`,
  get: `Usage: t2s get <id> [dir] [--json]

Downloads every file of a completed job into dir (default: the current folder), keeping the torrent's
folders. A file already partly there is resumed with a Range request; every size is checked.`,
  sync: `Usage: t2s sync <dir> [--category <name>]... [--watch <folder>]

Runs for good beside Sonarr or Radarr (which use torrent2s3 as their qBittorrent client). Each completed
job with a category (only the given ones, if any) appears in <dir>/<category>/<name>/ whole or not at
all: it is downloaded into <dir>/.t2s/partial/ and moved in with one rename. The agent then reports it
delivered, and the qBittorrent API calls the job complete, with its content_path there. A job deleted
with its files (as the media app does after import) is removed here too. It follows the server's change
feed; stopped and started again, it resumes partial files and fetches nothing twice.

--watch <folder>: a torrent blackhole. <folder>/<category>/*.torrent and *.magnet are handed in with that
category, then deleted (renamed to *.failed if the server refuses them).

Logs are JSON lines on stdout. SIGINT or SIGTERM stops it.`,
};

type Opts = { url: string; token: string; json: boolean; wait: boolean; all: boolean; limit: number; callbackUrl: string | undefined; only: string[] };

const out = (line: string) => process.stdout.write(line + "\n");
const bytes = (n: number | null) => {
  if (n === null) return "?";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
};
const duration = (s: number | null) => (s === null || s < 0 ? "?" : s < 60 ? `${Math.round(s)}s` : s < 3600 ? `${Math.round(s / 60)}m` : `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60)}m`);
const ended = (j: Job) => ["completed", "failed", "cancelled", "expired"].includes(j.status);

function exitOf(j: Job): number {
  return j.status === "completed" ? exitCodes.ok : j.status === "cancelled" ? exitCodes.cancelled : j.status === "expired" ? exitCodes.expired : exitCodes.failed;
}

function links(j: Job): void {
  for (const f of j.files) out(`${f.path}\t${f.url ?? "(no link)"}`);
  if (j.zip) out(`(all files as one zip, ${bytes(j.zip.size)})\t${j.zip.url}`);
}

function describe(j: Job): void {
  out(`${j.id}  ${j.status}  ${Math.round(j.progress * 100)}%  ${bytes(j.size)}  ${j.name}`);
  if (j.error) out(`error: ${j.error.message} (${j.error.code})`);
  if (j.status === "completed" && j.expiresAt) out(`files kept until ${j.expiresAt}`);
  if (j.status === "completed") links(j);
}

async function source(arg: string): Promise<SubmitBody> {
  if (/^magnet:\?/i.test(arg)) return { magnet: arg };
  if (/^https?:\/\//i.test(arg)) return { url: arg };
  try {
    return { torrent: (await readFile(arg)).toString("base64") };
  } catch {
    throw new CliError("usage", `${arg} is neither a magnet link, an http(s) URL, nor a readable .torrent file.`, exitCodes.usage);
  }
}

/** Follows jobs until each ends: bars on a terminal, a line per change in a pipe. */
async function follow(c: ApiClient, jobs: Job[], o: Opts): Promise<Job[]> {
  const tty = process.stderr.isTTY && !o.json;
  const bars = tty ? new cliProgress.MultiBar({
    format: "{name} |{bar}| {percentage}% {speed} ETA {eta_h}",
    hideCursor: true, clearOnComplete: false, stopOnComplete: false, stream: process.stderr,
  }, cliProgress.Presets.shades_classic) : null;
  const name = (j: Job) => (j.name.length > 30 ? j.name.slice(0, 29) + "…" : j.name.padEnd(30));
  const bar = new Map(jobs.map((j) => [j.id, bars?.create(100, 0, { name: name(j), speed: "", eta_h: "?" })]));
  const last = new Map<string, string>();
  const current = new Map(jobs.map((j) => [j.id, j]));
  try {
    for (;;) {
      for (const j of current.values()) {
        const pct = Math.round(j.progress * 100);
        const speed = j.rate > 0 ? `${bytes(j.rate)}/s` : "";
        if (bars) bar.get(j.id)!.update(pct, { name: name(j), speed: ended(j) ? j.status : speed, eta_h: duration(j.eta) });
        else if (!o.json) {
          const line = `${j.id.slice(0, 8)} ${j.status} ${pct}%${speed ? ` ${speed}` : ""}${j.eta !== null && !ended(j) ? ` eta ${duration(j.eta)}` : ""} ${j.name}`;
          // In a pipe: a line when something a reader cares about changes, not on every poll.
          const key = `${j.status} ${Math.floor(pct / 10)}`;
          if (last.get(j.id) !== key) process.stderr.write(line + "\n");
          last.set(j.id, key);
        }
      }
      if ([...current.values()].every(ended)) return [...current.values()];
      await new Promise((r) => setTimeout(r, 1000));
      for (const j of current.values()) if (!ended(j)) current.set(j.id, await c.get(j.id));
    }
  } finally {
    bars?.stop();
  }
}

async function add(c: ApiClient, args: string[], o: Opts): Promise<number> {
  if (args.length === 0) throw new CliError("usage", "Give at least one .torrent file, magnet link or URL.", exitCodes.usage);
  const jobs: Job[] = [];
  for (const a of args) {
    const body = await source(a);
    if (o.callbackUrl) body.callback_url = o.callbackUrl;
    if (o.only.length > 0) body.files = o.only;
    const { job } = await c.submit(body);
    jobs.push(job);
    if (!o.json && !o.wait) out(`${job.id}  ${job.status}  ${job.name}`);
  }
  const final = o.wait ? await follow(c, jobs, o) : jobs;
  if (o.json) out(JSON.stringify(o.wait || final.length > 1 ? { jobs: final } : { job: final[0] }));
  else if (o.wait) for (const j of final) j.status === "completed" ? links(j) : process.stderr.write(`${j.name}: ${j.status}${j.error ? ` (${j.error.message})` : ""}\n`);
  if (!o.wait) return exitCodes.ok;
  return final.map(exitOf).find((x) => x !== 0) ?? exitCodes.ok;
}

async function ls(c: ApiClient, o: Opts): Promise<number> {
  const all: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await c.list(o.limit, cursor);
    all.push(...page.jobs);
    cursor = o.all ? page.next : null;
  } while (cursor);
  if (o.json) out(JSON.stringify({ jobs: all }));
  else for (const j of all) out(`${j.id}  ${j.status.padEnd(11)} ${String(Math.round(j.progress * 100)).padStart(3)}%  ${bytes(j.size).padStart(9)}  ${j.name}`);
  return exitCodes.ok;
}

const needId = (args: string[]) => {
  const id = args[0]?.toLowerCase();
  if (!id || !/^[0-9a-f]{40}$/.test(id)) throw new CliError("usage", "Give the job's id: 40 hexadecimal characters (t2s ls shows them).", exitCodes.usage);
  return id;
};

async function get(c: ApiClient, args: string[], o: Opts): Promise<number> {
  const id = needId(args);
  const dir = args[1] ?? ".";
  const job = await c.get(id);
  if (job.status !== "completed") {
    throw new CliError(job.status, `This job is ${job.status}; only a completed job's files can be downloaded.`, exitCode(job));
  }
  const done: { path: string; file: string; size: number; result: string }[] = [];
  for (const f of job.files) {
    const to = localPath(dir, f.path);
    const result = await download(f.url!, to, f.size);
    done.push({ path: f.path, file: to, size: f.size, result });
    if (!o.json) out(`${result.padEnd(10)} ${to} (${bytes(f.size)})`);
  }
  if (o.json) out(JSON.stringify({ job: job.id, files: done }));
  return exitCodes.ok;
}
const exitCode = (j: Job) => (j.status === "completed" ? exitCodes.ok : exitOf(j) || exitCodes.failed);

async function sync(c: ApiClient, args: string[], categories: string[], watch: string | undefined): Promise<number> {
  if (args.length !== 1) throw new CliError("usage", "Give the one folder to mirror jobs into: t2s sync <dir>.", exitCodes.usage);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop).once("SIGTERM", stop);
  try {
    await new SyncAgent(c, { dir: args[0]!, categories, ...(watch ? { watch } : {}), log: createLogger("sync"), signal: ac.signal }).run();
  } finally {
    process.off("SIGINT", stop).off("SIGTERM", stop);
  }
  return exitCodes.ok;
}

async function one(c: ApiClient, cmd: string, args: string[], o: Opts): Promise<number> {
  const id = needId(args);
  const job = cmd === "show" ? await c.get(id) : cmd === "cancel" ? await c.cancel(id) : await c.deleteFiles(id);
  if (o.json) out(JSON.stringify({ job }));
  else describe(job);
  return cmd === "show" ? exitCode(job) : exitCodes.ok;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" }, token: { type: "string" }, "token-file": { type: "string" }, "allow-http": { type: "boolean" },
        json: { type: "boolean" }, help: { type: "boolean", short: "h" },
        wait: { type: "boolean" }, all: { type: "boolean" }, limit: { type: "string" }, "callback-url": { type: "string" }, version: { type: "boolean" },
        category: { type: "string", multiple: true }, watch: { type: "string" }, only: { type: "string", multiple: true },
      },
    });
  } catch (err) {
    process.stderr.write(`t2s: ${(err as Error).message}\n\n${help.main}\n`);
    return exitCodes.usage;
  }
  const [cmd, ...args] = parsed.positionals;
  const v = parsed.values;
  if (v.version) return out("t2s 0.1.0"), exitCodes.ok;
  if (!cmd) {
    out(help.main!);
    return v.help ? exitCodes.ok : exitCodes.usage;
  }
  if (!help[cmd] || cmd === "main") {
    process.stderr.write(`t2s: unknown command "${cmd}".\n\n${help.main}\n`);
    return exitCodes.usage;
  }
  if (v.help) return out(help[cmd]!), exitCodes.ok;
  const limit = v.limit === undefined ? 50 : Number(v.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    process.stderr.write("t2s: --limit must be a whole number from 1 to 200.\n");
    return exitCodes.usage;
  }
  const o: Opts = { url: "", token: "", json: v.json ?? false, wait: v.wait ?? false, all: v.all ?? false, limit, callbackUrl: v["callback-url"], only: v.only ?? [] };
  try {
    o.token = await readToken(v.token, v["token-file"] ?? env.T2S_API_TOKEN_FILE, env.T2S_API_TOKEN);
    o.url = serverUrl(v.url ?? env.T2S_URL ?? "http://127.0.0.1:8080", v["allow-http"] ?? env.T2S_ALLOW_HTTP === "1");
    const c = cliClient(o.url, o.token);
    switch (cmd) {
      case "add": return await add(c, args, o);
      case "ls": return await ls(c, o);
      case "get": return await get(c, args, o);
      case "sync": return await sync(c, args, v.category ?? [], v.watch);
      default: return await one(c, cmd, args, o);
    }
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    if (o.json) out(JSON.stringify({ error: { code: err.code, message: err.message } }));
    process.stderr.write(`t2s: ${err.message}\n`);
    return err.exit;
  }
}

/** The token from --token, a token file, or the environment, in that order. */
async function readToken(flag: string | undefined, file: string | undefined, fromEnv: string | undefined): Promise<string> {
  if (flag) return flag;
  if (file) {
    const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new CliError("usage", `Cannot read the token file ${file} (${err.code ?? "error"}).`, exitCodes.usage);
    });
    const token = text.trim();
    if (!token) throw new CliError("unauthorized", `The token file ${file} is empty.`, exitCodes.unauthorized);
    return token;
  }
  if (fromEnv) return fromEnv;
  throw new CliError("unauthorized", "No API token: set T2S_API_TOKEN or T2S_API_TOKEN_FILE, or pass --token or --token-file.", exitCodes.unauthorized);
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2), process.env);
