// Boots a rehearsed EC2 instance as a Linux system container: systemd-nspawn --boot on a Debian rootfs
// that debootstrap makes once (cached in .cache/rehearse/), each instance on an overlay of its own so
// the cached rootfs stays clean. The rendered user data runs once at first boot, as root, from a oneshot
// unit, as cloud-init's would. Each instance has a network namespace of its own (network.ts) where the
// stand-ins answer on the same loopback ports as on the host, and only Debian's archive and PyPI are
// reachable, through a proxy.
//
// Rehearsal-only injections, all in the instance's overlay, none in the user data:
// - /etc/t2s-rehearse/boot.env: the environment the user data runs with (T2S_IMDS_URL and
//   AWS_ENDPOINT_URL*: the metadata stand-in, moto and the local store; the egress proxy; PIP_CERT);
// - this machine's CA bundle, for its TLS-intercepting egress to PyPI;
// - the data folder bound from the host (the user data uses a data folder that is a mount as it is).
// systemd as PID 1 writes nothing to nspawn's pipe (no /dev/console with --console=pipe): the host
// follows the instance's persistent journal instead, whose entries carry their own timestamps.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { debianRelease } from "../../stacks/seedbox-fleet.ts";
import { repoRoot } from "../local/paths.ts";
import { run } from "../local/proc.ts";
import { instanceNetwork, type InstanceNetwork } from "./network.ts";

export const rehearseCache = join(repoRoot, ".cache", "rehearse");
const runnerUnit = "t2s-rehearse-user-data.service";
/** The runner's last line: the user data's exit status. */
const exitLine = /^t2s-rehearse: user data exited (\d+)$/;

export interface JournalEntry {
  /** When the instance logged it (ms since the epoch; the host's clock). */
  at: number;
  unit: string;
  msg: string;
}

/** Throws, naming what is missing, where a container cannot boot here. */
export function containerPreflight(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root (systemd-nspawn and mount need it)");
  for (const tool of ["systemd-nspawn", "debootstrap", "journalctl", "ip"]) {
    if (!["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((d) => existsSync(join(d, tool)))) missing.push(tool);
  }
  if (missing.length > 0) throw new Error(`a rehearsed instance cannot boot here; missing: ${missing.join(", ")} (run: bash scripts/bootstrap.sh --rehearse)`);
}

/** The Debian archive this machine's apt uses (the rehearsal fetches only from there). */
export function debianMirror(): string {
  const files = ["/etc/apt/sources.list", ...(existsSync("/etc/apt/sources.list.d") ? readdirSync("/etc/apt/sources.list.d").filter((f) => /\.(list|sources)$/.test(f)).map((f) => `/etc/apt/sources.list.d/${f}`) : [])];
  for (const f of files.filter((x) => existsSync(x))) {
    const text = readFileSync(f, "utf8");
    // deb822 (URIs: ... / Suites: ...) or one-line (deb URI SUITE ...).
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(debianRelease.codename)) return uri;
    }
    const line = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${debianRelease.codename}\\s`, "m").exec(text);
    if (line) return line[1]!;
  }
  return "http://deb.debian.org/debian";
}

/** The cached rootfs, made with debootstrap on first use (about 2 minutes). */
export async function debianRootfs(log: (line: string) => void = () => {}): Promise<string> {
  const dir = join(rehearseCache, `debian-${debianRelease.codename}`);
  const stamp = `${dir}.ok`;
  if (existsSync(stamp) && existsSync(join(dir, "etc", "debian_version"))) return dir;
  containerPreflight();
  await mkdir(rehearseCache, { recursive: true });
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  const mirror = debianMirror();
  log(`debootstrap ${debianRelease.codename} from ${mirror} into ${dir}`);
  await run("debootstrap", ["--variant=minbase", "--include=systemd,systemd-sysv,dbus,ca-certificates", debianRelease.codename, tmp, mirror], { timeoutMs: 900_000 });
  await rename(tmp, dir);
  await writeFile(stamp, `${debianRelease.codename} ${mirror}\n`);
  return dir;
}

export interface InstanceOptions {
  /** The instance id (i-...): the container's hostname and its metadata. */
  id: string;
  /** The rendered user data, run once at first boot. */
  userData: string;
  /** The environment the user data runs with (rehearsal-only: the stand-ins' addresses). */
  env: Record<string, string>;
  rootfs: string;
  /** The host's loopback ports the instance reaches (the stand-ins). */
  forward: number[];
  /** The hosts the instance may fetch from (Debian's archive, PyPI). */
  allowHosts: string[];
  /** Each journal entry as it arrives. */
  onEntry?: (e: JournalEntry) => void;
}

export interface SetupResult {
  exitCode: number;
}

export interface Instance {
  id: string;
  /** When the container was started (ms since the epoch). */
  startedAt: number;
  entries: JournalEntry[];
  /** Settles when the user data ends: rejects, with its last lines, if it failed or the container ended first. */
  setup: Promise<SetupResult>;
  /** The first entry that matches, or a rejection when the time runs out, the setup fails or the container ends. */
  waitFor(what: string, match: (e: JournalEntry) => boolean, timeoutMs: number): Promise<JournalEntry>;
  /** Powers the container off (hard: kills its init at once), then removes the instance's overlay. */
  stop(o?: { hard?: boolean }): Promise<void>;
  /** nspawn's exit status once the container has ended. */
  exited: Promise<number | null>;
  /** Every host the instance asked to reach beyond its stand-ins, and whether it was let through. */
  egress: InstanceNetwork["egress"];
}

const unitFile = `[Unit]
Description=Rehearsal: the user data, once at first boot, as root, as cloud-init runs it
After=network-online.target
Wants=network-online.target
ConditionPathExists=!/var/lib/cloud/instance/boot-finished

[Service]
Type=oneshot
EnvironmentFile=/etc/t2s-rehearse/boot.env
ExecStart=/bin/bash -c 'bash /var/lib/cloud/instance/user-data.txt; rc=$?; touch /var/lib/cloud/instance/boot-finished; echo "t2s-rehearse: user data exited $rc"; exit $rc'
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
`;

function text(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return Buffer.from(v as number[]).toString("utf8");
  return "";
}

export async function bootInstance(o: InstanceOptions): Promise<Instance> {
  containerPreflight();
  const dir = await mkdtemp(join(tmpdir(), `t2s-rehearse-${o.id}-`));
  const [upper, work, root, data] = ["upper", "work", "root", "data"].map((d) => join(dir, d)) as [string, string, string, string];
  await Promise.all([upper, work, root, data].map((d) => mkdir(d)));
  await run("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${o.rootfs},upperdir=${upper},workdir=${work}`, root]);
  let nspawn: ChildProcess | undefined;
  let journal: ChildProcess | undefined;
  let net: InstanceNetwork | undefined;
  const cleanup = async () => {
    journal?.kill("SIGTERM");
    await net?.close();
    await run("umount", [root]).catch(() => run("umount", ["-l", root]).catch(() => {}));
    await rm(dir, { recursive: true, force: true });
  };
  const machineId = randomBytes(16).toString("hex");
  try {
    net = await instanceNetwork({ name: `t2s-${o.id.slice(2, 14)}`, forward: o.forward, allowHosts: o.allowHosts });
    const put = async (path: string, body: string, mode = 0o644) => {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), body, { mode });
    };
    await put("etc/machine-id", `${machineId}\n`, 0o444);
    await put("etc/hostname", `${o.id}\n`);
    await mkdir(join(root, "var", "log", "journal", machineId), { recursive: true });
    await put("var/lib/cloud/instance/user-data.txt", o.userData, 0o700);
    await put("etc/t2s-rehearse/boot.env", Object.entries({ ...o.env, ...net.proxyEnv }).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", 0o600);
    await put(`etc/systemd/system/${runnerUnit}`, unitFile);
    await mkdir(join(root, "etc", "systemd", "system", "multi-user.target.wants"), { recursive: true });
    await symlink(`../${runnerUnit}`, join(root, "etc", "systemd", "system", "multi-user.target.wants", runnerUnit));
    await copyFile("/etc/ssl/certs/ca-certificates.crt", join(root, "etc", "ssl", "certs", "ca-certificates.crt"));
  } catch (err) {
    await cleanup();
    throw err;
  }

  const startedAt = Date.now();
  nspawn = spawn("systemd-nspawn", [
    "-D", root, "--boot", "--register=no", "--keep-unit", "--console=pipe", `--machine=${o.id}`, `--network-namespace-path=${net!.nsPath}`,
    `--bind=${data}:/var/lib/t2s`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  const nspawnOut: string[] = [];
  for (const s of [nspawn.stdout!, nspawn.stderr!]) createInterface({ input: s }).on("line", (l) => void (nspawnOut.push(l), nspawnOut.length > 50 && nspawnOut.shift()));
  const exited = new Promise<number | null>((resolve) => nspawn!.once("exit", (code) => resolve(code)));

  const entries: JournalEntry[] = [];
  const listeners = new Set<() => void>();
  let setupDone: { code: number } | null = null;
  let ended = false;
  void exited.then(() => ((ended = true), listeners.forEach((l) => l())));
  const onEntry = (e: JournalEntry) => {
    entries.push(e);
    const m = e.unit === runnerUnit ? exitLine.exec(e.msg) : null;
    if (m) setupDone = { code: Number(m[1]) };
    o.onEntry?.(e);
    listeners.forEach((l) => l());
  };
  // The journal's files appear once journald has started in the container.
  void (async () => {
    const jdir = join(root, "var", "log", "journal", machineId);
    while (!ended && !(await readdir(jdir).catch(() => [])).some((f) => f.endsWith(".journal"))) await new Promise((r) => setTimeout(r, 100));
    if (ended) return;
    journal = spawn("journalctl", [`--directory=${jdir}`, "--follow", "--lines=all", "--output=json", "--no-pager"], { stdio: ["ignore", "pipe", "ignore"] });
    createInterface({ input: journal.stdout! }).on("line", (line) => {
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        onEntry({ at: Number(j.__REALTIME_TIMESTAMP) / 1000, unit: text(j._SYSTEMD_UNIT ?? j.UNIT), msg: text(j.MESSAGE) });
      } catch {
        /* not an entry */
      }
    });
  })();

  const setupLines = () => entries.filter((e) => e.unit === runnerUnit).slice(-25).map((e) => `  ${e.msg}`).join("\n");
  const waitFor = (what: string, match: (e: JournalEntry) => boolean, timeoutMs: number) =>
    new Promise<JournalEntry>((resolve, reject) => {
      let seen = 0;
      const check = () => {
        for (; seen < entries.length; seen++) if (match(entries[seen]!)) return done(() => resolve(entries[seen]!));
        if (setupDone && setupDone.code !== 0) return done(() => reject(new Error(`instance ${o.id}: the user data failed (exit ${setupDone!.code}) before ${what}; its last lines:\n${setupLines()}`)));
        if (ended) return done(() => reject(new Error(`instance ${o.id}: the container ended before ${what}; nspawn said:\n${nspawnOut.join("\n")}\nuser data:\n${setupLines()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`instance ${o.id}: no ${what} within ${timeoutMs / 1000} s; the user data's last lines:\n${setupLines()}`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      check();
    });
  const setup = waitFor("the end of the user data", (e) => e.unit === runnerUnit && exitLine.test(e.msg), 3_600_000)
    .then((): SetupResult => ({ exitCode: setupDone!.code }))
    .then((r) => r.exitCode === 0 ? r : Promise.reject(new Error(`instance ${o.id}: the user data failed (exit ${r.exitCode}); its last lines:\n${setupLines()}`)));
  setup.catch(() => {});

  // The container's init (nspawn's child): with it the whole PID namespace ends.
  const killInit = () => {
    try {
      const kids = readFileSync(`/proc/${nspawn!.pid}/task/${nspawn!.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      for (const k of kids) process.kill(Number(k), "SIGKILL");
    } catch {
      /* already gone */
    }
  };
  // A test process that ends without stop() leaves no container running and no overlay mounted.
  const onExit = () => {
    if (!ended) killInit();
    journal?.kill("SIGKILL");
    net?.closeSync();
    spawnSync("umount", ["-l", root]);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  let stopping: Promise<void> | undefined;
  const stop = (s: { hard?: boolean } = {}) => (stopping ??= (async () => {
    process.off("exit", onExit);
    if (!ended) {
      if (s.hard) {
        killInit();
      } else {
        // nspawn turns SIGTERM into SIGRTMIN+3 for the container's systemd: an orderly poweroff.
        nspawn!.kill("SIGTERM");
      }
      const timeout = new Promise((r) => setTimeout(r, 60_000, "timeout"));
      if ((await Promise.race([exited, timeout])) === "timeout") {
        nspawn!.kill("SIGKILL");
        await exited;
      }
    }
    await cleanup();
  })());

  return { id: o.id, startedAt, entries, setup, waitFor, stop, exited, egress: net!.egress };
}

/** The user data's phase lines ("t2s setup: <phase> ..."), in order, with their times. */
export function setupPhases(entries: JournalEntry[]): { phase: string; at: number }[] {
  return entries.filter((e) => e.unit === runnerUnit).flatMap((e) => {
    const m = /^t2s setup: (\w+) \(/.exec(e.msg);
    return m ? [{ phase: m[1]!, at: e.at }] : [];
  });
}
