// `npm run rehearse`: AWS mode as deployed, on this machine. terraform applies the stack to moto; every
// Lambda runs from its uploaded zip under its own role (lambda.ts), CloudFront is stood in from the
// applied distribution (cloudfront.ts), and the fleet at zero boots Debian containers running the launch
// template's user data when ingest raises the desired capacity (fleet.ts). Torrents go in through
// CloudFront; each job must complete with the seeded bytes behind its links; the fleet must come back to
// zero; every AWS call each role made must be allowed by that role's applied policies (iam.ts).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { IAMClient } from "@aws-sdk/client-iam";
import { S3Client } from "@aws-sdk/client-s3";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { autoScalingClient } from "../../lib/aws/fleet.ts";
import { isTerminal } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { startMoto } from "../local/moto.ts";
import type { Keys } from "../local/moto-guard.ts";
import { secretNames } from "../../stacks/aws-settings.ts";
import { containerPreflight, debianMirror, debianRootfs, setupPhases } from "./container.ts";
import { fetchLink, follow, rehearsalClient } from "./drive.ts";
import { isSeedboxRunning, startFleet } from "./fleet.ts";
import { assumeRole, evaluateCalls, IamRecorder, rolePolicies, type RolePolicy } from "./iam.ts";
import { startLambdaRunner, type SessionKeys } from "./lambda.ts";
import { addThroughPage } from "./page.ts";
import { startSwarm } from "./peers.ts";
import { motoQuery } from "./query.ts";
import { applyAwsStack, liftTlsOnlyStatements, motoEnv, resourcesOf, rehearsalRegion as region } from "./stack.ts";
import { motoAccount } from "./iam-calls.ts";
import { startFront } from "./front.ts";
import type { AppliedDistribution } from "./cloudfront.ts";
import { startDiscordStandIn } from "../../test/support/discord-standin.ts";
import { makeTorrent } from "../../test/support/torrents.ts";
import { noQbittorrentApi, qbittorrentLeg, type QbittorrentApiResult } from "./qbittorrent.ts";
import { checkSignedDownloads, noSignedDownloads, type SignedDownloads } from "./signed-downloads.ts";

export interface RehearsalSummary {
  jobs_completed: number;
  /** Container start -> the seedbox logs "seedbox running". */
  boot_s: number | null;
  boot_phases_s: Record<string, number> | null;
  /** First job submitted on a fleet at 0 -> its first bytes downloaded (EC2's own launch not included). */
  first_byte_from_zero_s: number | null;
  /** A seedbox killed under a job -> the job completed on its replacement. */
  recovered_after_kill_s: number | null;
  /** A spot interruption notice -> the seedbox no longer holds the job. */
  spot_handed_back_s: number | null;
  back_to_zero: boolean;
  /** Every call each role made was judged against its applied policies (the simulator; see iam.ts). */
  iam_enforced: boolean;
  iam_calls: number;
  unused_grants: string[];
  /** Every host an instance asked to reach beyond the stand-ins, with " (refused)" where the proxy refused it. */
  egress: string[];
  /** Metadata requests that came without an IMDSv2 token (must be 0). */
  imds_without_token: number;
  /** The rehearsal's own checks, run on a broken copy of the world, caught the break. */
  canaries: { route_removed: boolean; grant_removed: boolean };
  /** Sonarr's and Radarr's way in: the npm qBittorrent client through the distribution (qbittorrent.ts). */
  qbittorrent_api: QbittorrentApiResult;
  /** A /d/ and a /zip/ link through CloudFront's signed URLs, checked against the applied key group. */
  signed_downloads: SignedDownloads;
  /** A job cancelled while no seedbox held it: ingest cleared its files/<id>/ itself, with the API function's grants. */
  cancelled_unheld: boolean;
  failures: string[];
}

export interface RehearsalOptions {
  log: (line: string) => void;
  /** Minutes an idle seedbox waits before it ends itself (the stack's idle_minutes). */
  idleMinutes?: number;
  signal: AbortSignal;
}

/** The containers run on this machine's CPU, so the stack is applied for it (the default is arm64). */
const hostArch = process.arch === "arm64" ? "arm64" : "x86_64";
/** The keys terraform and the stand-ins use (moto takes any; the front checks them). Not secrets. */
const adminKeys: Keys = { accessKeyId: "test", secretAccessKey: "test" };
const stackName = "t2srh";
/** The Discord user the stack's allow-list names. */
const rehearsalUser = "400000000000000001";
const secondS = (a?: number | null, b?: number | null) => (a == null || b == null ? NaN : Math.round((b - a) / 100) / 10);

export async function rehearse(o: RehearsalOptions): Promise<RehearsalSummary> {
  containerPreflight();
  const summary: RehearsalSummary = { jobs_completed: 0, boot_s: null, boot_phases_s: null, first_byte_from_zero_s: null, recovered_after_kill_s: null, spot_handed_back_s: null, back_to_zero: false, iam_enforced: false, iam_calls: 0, unused_grants: [], egress: [], imds_without_token: 0, canaries: { route_removed: false, grant_removed: false }, signed_downloads: noSignedDownloads(), qbittorrent_api: { ...noQbittorrentApi }, cancelled_unheld: false, failures: [] };
  const fail = (what: string) => {
    summary.failures.push(what);
    o.log(`FAILED: ${what}`);
  };
  const dir = await mkdtemp(join(tmpdir(), "t2s-rehearse-"));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const rootfs = await debianRootfs(o.log);
    const group = `${stackName}-seedbox`;
    const recorder = new IamRecorder({ instanceGroup: () => group });
    const sessions = new Map<string, Keys>();
    const moto = await startMoto({
      logDir: dir, env: await motoEnv(dir), observe: recorder.observe,
      guard: { keys: adminKeys, dir: join(dir, "moto"), sessions: (id) => sessions.get(id) },
    });
    cleanups.push(() => moto.proc.stop());
    // Discord: the stand-in holds the application's key pair and answers the bot's REST calls.
    const discord = await startDiscordStandIn();
    cleanups.push(() => discord.close());
    const discordPublicKey = discord.publicKey;
    // Downloads through CloudFront, as docs/cost.md has the owner turn them on: the public key to the
    // stack, the private key into SSM.
    const downloadsKey = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    const stack = await applyAwsStack({
      dir, motoEndpoint: moto.endpoint, log: o.log,
      settings: { name: stackName, idleMinutes: o.idleMinutes ?? 1, maxSeedboxes: 2, arch: hostArch, discordPublicKey, discordAllowList: [rehearsalUser], downloadsPublicKey: downloadsKey.publicKey },
    });
    o.signal.throwIfAborted();
    const s3 = new S3Client({ region, endpoint: moto.endpoint, credentials: adminKeys, forcePathStyle: true });
    await liftTlsOnlyStatements(s3, o.log);
    s3.destroy();
    const apiToken = randomBytes(32).toString("hex");
    const ssm = new SSMClient({ region, endpoint: moto.endpoint, credentials: adminKeys });
    const secrets = secretNames(stackName);
    for (const [p, v] of [[secrets.apiToken, apiToken], [secrets.signingSecret, randomBytes(32).toString("hex")], [secrets.discordToken, discord.token], [secrets.downloadsPrivateKey, downloadsKey.privateKey]] as const) {
      await ssm.send(new PutParameterCommand({ Name: p, Type: "SecureString", Overwrite: true, Value: v }));
    }
    ssm.destroy();

    // Each function and each instance gets a session of its own role, which the record attributes to it.
    const byRole = new Map<string, Promise<SessionKeys>>();
    const credentialsFor = (roleArn: string) => {
      let c = byRole.get(roleArn);
      if (!c) {
        c = assumeRole({ endpoint: moto.endpoint, keys: adminKeys, roleArn, region }).then((creds) => {
          recorder.register(creds);
          sessions.set(creds.accessKeyId, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey });
          return creds;
        });
        byRole.set(roleArn, c);
      }
      return c;
    };

    const state = await stack.state();
    const zips = Object.fromEntries(resourcesOf(state, "aws_lambda_function").map((f) => {
      const file = String(f.filename);
      return [String(f.function_name), isAbsolute(file) ? file : join(stack.stackDir, file)];
    }));
    // CloudFront signs its origin requests (OAC) as the CloudFront service; the function URL checks it.
    const cloudfrontKeys: Keys = { accessKeyId: `ASIA${randomBytes(8).toString("hex").toUpperCase()}`, secretAccessKey: randomBytes(30).toString("base64url") };
    // S3 takes them (the page bucket's policy grants the distribution): so does moto's front.
    sessions.set(cloudfrontKeys.accessKeyId, cloudfrontKeys);
    // What the functions reach instead of AWS and Discord; read as each instance starts.
    const lambdaEnv: Record<string, string> = { AWS_ENDPOINT_URL: moto.endpoint, DISCORD_API_URL: discord.api };
    const runner = await startLambdaRunner({
      endpoint: moto.endpoint, keys: adminKeys, region, zips, credentialsFor,
      env: lambdaEnv,
      log: (fn, stream, line) => { if (stream !== "stdout" || /"level":"(warn|error)"/.test(line)) o.log(`[${fn}] ${line}`); },
      urlSigner: (id) => (id === cloudfrontKeys.accessKeyId ? { secretAccessKey: cloudfrontKeys.secretAccessKey, arn: `arn:aws:sts::${motoAccount}:assumed-role/cloudfront/cloudfront` } : undefined),
      tap: moto.tap,
    });
    cleanups.push(() => runner.close());
    const front = await startFront({ motoEndpoint: moto.endpoint, keys: adminKeys, region, cloudfrontKeys, runner, statePath: stack.statePath });
    cleanups.push(() => front.close());
    o.log(`CloudFront stand-in at ${front.url}, from the applied distribution`);
    // The Discord functions call the API at the distribution's address (https://<domain>), which here is
    // the stand-in's: the one applied value the rehearsal replaces, as DNS would.
    lambdaEnv.T2S_API_URL = front.url;
    // Links name the distribution's domain (page_url); here that domain is the stand-in.
    const viaFront = (link: string) => {
      const u = new URL(link, front.url);
      return u.host === front.domainName ? new URL(u.pathname + u.search, front.url).href : u.href;
    };

    const swarm = await startSwarm(join(dir, "swarm"));
    cleanups.push(() => swarm.stop());
    const autoscaling = autoScalingClient({ region, endpoint: moto.endpoint }, adminKeys);
    cleanups.push(async () => autoscaling.destroy());
    const fleet = startFleet({
      autoscaling, group, region, rootfs, credentialsFor,
      query: motoQuery(moto.endpoint, adminKeys, region),
      forward: [moto.port, ...swarm.ports],
      allowHosts: [new URL(debianMirror()).hostname, "pypi.org", "files.pythonhosted.org"],
      env: { AWS_ENDPOINT_URL: moto.endpoint, PIP_CERT: "/etc/ssl/certs/ca-certificates.crt" },
      onEntry: (id, e) => { if (/t2s setup:|user data exited|"level":"(warn|error)"|seedbox running/.test(e.msg)) o.log(`[${id}] ${e.msg}`); },
      log: o.log,
    });
    cleanups.push(() => fleet.close());

    // A fleet at zero. Three people hand torrents in at once: a magnet through the API (the first, timed),
    // a /torrent over Discord's signed HTTP interactions, and a .torrent file through the page in Chromium.
    const api = rehearsalClient(front.url, apiToken);
    const [one, two, three] = [
      await swarm.seed("rehearsal-api", [{ path: ["a.bin"], size: 6 * 1024 * 1024 }, { path: ["sub", "b.bin"], size: 3 * 1024 * 1024 }]),
      await swarm.seed("rehearsal-discord", [{ path: ["c.bin"], size: 2 * 1024 * 1024 + 3 }]),
      await swarm.seed("rehearsal-page", [{ path: ["d.bin"], size: 3 * 1024 * 1024 }, { path: ["e ü.txt"], size: 5 }]),
    ];
    const sameBytes = async (what: string, links: Map<string, string>, made: typeof one) => {
      for (const [path, link] of links) {
        const got = await fetchLink(link, viaFront);
        if (got.status !== 200 || got.sha256 !== made.sha256.get(path)) {
          fail(`${what}: the link of ${path} gave HTTP ${got.status}, ${got.bytes} bytes${got.said ? ` (${got.said})` : ""}, not the seeded bytes`);
          return false;
        }
      }
      if (links.size !== made.files.length) return (fail(`${what}: ${links.size} links for ${made.files.length} files`), false);
      return true;
    };
    // Cancelled on a fleet at zero, so no seedbox holds it: the API function aborts what may be open under
    // files/<id>/ and deletes it (its calls are judged with the rest below). Nobody seeds this hash.
    const { job: unheld } = await api.submit({ magnet: `magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}&dn=rehearsal-cancelled` });
    const cancelled = await api.cancel(unheld.id).catch((err: Error) => (fail(`cancelling job ${unheld.id}, which no seedbox held: ${err.message}`), null));
    summary.cancelled_unheld = cancelled?.status === "cancelled";
    if (cancelled && !summary.cancelled_unheld) fail(`job ${unheld.id}, cancelled before any seedbox held it, is ${cancelled.status}`);
    const submittedAt = Date.now();
    const apiLeg = async () => {
      const { job } = await api.submit({ magnet: swarm.magnet(one) });
      o.log(`submitted ${job.id} (magnet, API) on a fleet at ${fleet.state().desired}`);
      const followed = await follow(api, job.id, {
        timeoutMs: 900_000, signal: o.signal,
        onChange: (j) => o.log(`job ${j.id}: ${j.status} ${Math.round(j.progress * 100)}%`),
        trouble: () => fleet.failures[0] ?? null,
      });
      summary.first_byte_from_zero_s = secondS(submittedAt, followed.firstByteAt);
      if (followed.job.status !== "completed") return fail(`job ${job.id} ended ${followed.job.status}: ${followed.job.error?.message ?? ""}`);
      if (!(await sameBytes("API", new Map(followed.job.files.map((f) => [f.path, f.url ?? ""])), one))) return;
      // The zip link is ingest's /zip/<id> behind CloudFront (the route that once fell to the page bucket).
      const expected = one.files.reduce((n, f) => n + f.size, 0);
      const zip = followed.job.zip ? await fetchLink(followed.job.zip.url, viaFront) : null;
      if (!zip || zip.status !== 200 || zip.bytes < expected) return fail(`the zip link gave ${zip ? `HTTP ${zip.status}, ${zip.bytes} bytes${zip.said ? ` (${zip.said})` : ""}` : "nothing"}, not a zip of the ${expected} seeded bytes`);
      summary.jobs_completed++;
      // Canary: without its /zip/* behaviour (the route once copied by hand), the same link must fail.
      const broken = await startFront({ motoEndpoint: moto.endpoint, keys: adminKeys, region, cloudfrontKeys, runner, statePath: stack.statePath, edit: withoutBehaviour("/zip/*") });
      const u = new URL(viaFront(followed.job.zip!.url));
      const got = await fetchLink(new URL(u.pathname + u.search, broken.url).href);
      await broken.close();
      summary.canaries.route_removed = got.status !== 200 || got.bytes < expected;
      o.log(`canary: /zip/* taken from the distribution: the zip link gave HTTP ${got.status}${summary.canaries.route_removed ? ", as it must" : ""}`);
      const first = followed.job.files[0]!;
      summary.signed_downloads = await checkSignedDownloads({
        fileLink: first.url ?? "", filePath: join(one.seedDir, first.path), zipLink: followed.job.zip!.url, zipMinBytes: expected,
        front, keyPairId: String(resourcesOf(state, "aws_cloudfront_public_key")[0]?.id), privateKey: downloadsKey.privateKey, fail,
      });
      o.log(`signed downloads: ${JSON.stringify(summary.signed_downloads)}`);
    };
    const discordLeg = async () => {
      const interactions = runner.urls[`${stackName}-discord`];
      if (!interactions) return fail("the stack has no interactions function URL");
      const asked = discord.interactHttp(interactions.local, { user: rehearsalUser, command: "torrent", sub: "magnet", options: { uri: swarm.magnet(two) } });
      const r = await asked.response;
      if (r.status !== 200 || r.body?.type !== 5) return fail(`the interactions URL answered ${r.status} ${JSON.stringify(r.body)}, not a deferred reply`);
      const answer = await untilAborted(asked.answer(120_000), o.signal).catch((err: Error) => ({ content: `no answer: ${err.message}` }));
      if (!/^Added /.test(answer.content)) return fail(`/torrent was answered "${answer.content}"`);
      const links = (m: { content: string }) => [...m.content.matchAll(/\]\((https?:\/\/[^)\s]+)\)/g)].map((x) => x[1]!);
      const message = await untilAborted(discord.waitFor(() => [...discord.messages.values()].find((m) => links(m).some((l) => l.includes(two.infoHash))), 900_000, "a channel message with the links"), o.signal)
        .catch((err: Error) => (fail(`Discord: ${err.message}`), null));
      if (!message) return;
      const byPath = new Map(links(message).map((l) => [two.files.find((f) => decodeURIComponent(new URL(l).pathname).endsWith(f.path.split("/").pop()!))?.path ?? l, l]));
      if (await sameBytes("Discord", byPath, two)) summary.jobs_completed++;
    };
    const pageLeg = async () => {
      const links = await addThroughPage({ url: front.url, token: apiToken, torrent: three.torrent, name: three.name, files: three.files.map((f) => f.path), timeoutMs: 900_000, signal: o.signal });
      if (await sameBytes("page", links, three)) summary.jobs_completed++;
    };
    const legs = await Promise.allSettled([apiLeg(), discordLeg(), pageLeg()]);
    legs.forEach((l, i) => l.status === "rejected" && fail(`the ${["API", "Discord", "page"][i]} leg: ${(l.reason as Error).message}`));

    // Sonarr and Radarr: the qBittorrent API through the distribution, unsigned, from the public function.
    const qbtUrl = runner.urls[`${stackName}-ingest-qbt`];
    if (!qbtUrl || qbtUrl.authType !== "NONE") fail(`the stack has no public qBittorrent function URL (auth NONE): ${JSON.stringify(qbtUrl ?? null)}`);
    else {
      const episode = await makeTorrent({ name: "rehearsal-qbittorrent", files: [{ path: ["episode.mkv"], size: 300_000 }], dir: join(dir, "qbittorrent") });
      summary.qbittorrent_api = await qbittorrentLeg({ front: front.url, functionUrl: qbtUrl.local, apiToken, torrent: episode, log: o.log, fail })
        .catch((err: Error) => (fail(`the qBittorrent leg: ${err.message}`), { ...noQbittorrentApi }));
      const off = Object.entries(summary.qbittorrent_api).filter(([, ok]) => !ok).map(([k]) => k);
      if (off.length) fail(`qbittorrent_api: ${off.join(", ")} false`);
    }
    const first = fleet.instances[0];
    if (first) {
      const running = first.instance.entries.find(isSeedboxRunning);
      const at = Object.fromEntries(setupPhases(first.instance.entries).map((p) => [p.phase, p.at]));
      summary.boot_s = secondS(first.instance.startedAt, running?.at);
      summary.boot_phases_s = { os: secondS(first.instance.startedAt, at.start), apt: secondS(at.apt, at.pip), pip: secondS(at.pip, at.release), release: secondS(at.release, at.services), service_start: secondS(at.services, running?.at) };
    } else fail("no instance booted");

    /** The seedbox a job is downloading on, once it has bytes (null if it ended first). */
    const downloadingOn = async (id: string) => {
      const { job } = await follow(api, id, { timeoutMs: 600_000, signal: o.signal, trouble: () => fleet.failures[0] ?? null, stopWhen: (j) => j.downloaded > 0 && j.seedbox !== null });
      return isTerminal(job.status) ? null : job.seedbox;
    };

    // Host loss: the instance holding a job dies mid-download. The group replaces it; once the lease runs
    // out, the sweeper hands the job to the new seedbox, which completes it.
    const four = await swarm.seed("rehearsal-killed", [{ path: ["f.bin"], size: 24 * 1024 * 1024 }]);
    await swarm.throttle(four, 512);
    const { job: killed } = await api.submit({ magnet: swarm.magnet(four) });
    const holder = await downloadingOn(killed.id);
    if (!holder) fail(`job ${killed.id} never showed a seedbox downloading it`);
    else {
      await fleet.kill(holder);
      const killedAt = Date.now();
      o.log(`killed ${holder} under job ${killed.id}`);
      await swarm.throttle(four, -1);
      const after = await follow(api, killed.id, { timeoutMs: 900_000, signal: o.signal, trouble: () => fleet.failures[0] ?? null, onChange: (j) => o.log(`job ${j.id}: ${j.status} ${Math.round(j.progress * 100)}% on ${j.seedbox ?? "-"}`) });
      if (after.job.status !== "completed") fail(`the job whose seedbox was killed ended ${after.job.status}: ${after.job.error?.message ?? ""}`);
      else if (await sameBytes("after host loss", new Map(after.job.files.map((f) => [f.path, f.url ?? ""])), four)) {
        summary.jobs_completed++;
        summary.recovered_after_kill_s = secondS(killedAt, Date.now());
      }
    }

    // Spot: an interruption notice on the metadata service makes the seedbox hand its job back at once;
    // two minutes later EC2 takes the instance, and the job completes on the replacement.
    const five = await swarm.seed("rehearsal-spot", [{ path: ["g.bin"], size: 24 * 1024 * 1024 }]);
    await swarm.throttle(five, 512);
    const { job: spotJob } = await api.submit({ magnet: swarm.magnet(five) });
    const spotHolder = await downloadingOn(spotJob.id);
    const box = fleet.instances.find((m) => m.id === spotHolder && !m.endedAt);
    if (!box) fail(`job ${spotJob.id} never showed a live seedbox downloading it`);
    else {
      box.imds.spotNotice("terminate");
      const noticeAt = Date.now();
      const back = await follow(api, spotJob.id, { timeoutMs: 120_000, signal: o.signal, stopWhen: (j) => j.seedbox !== box.id });
      if (back.job.seedbox === box.id) fail(`the seedbox kept job ${spotJob.id} after a spot notice`);
      else summary.spot_handed_back_s = secondS(noticeAt, Date.now());
      o.log(`spot notice to ${box.id}: job ${spotJob.id} handed back after ${summary.spot_handed_back_s} s`);
      await fleet.kill(box.id);
      await swarm.throttle(five, -1);
      const done = await follow(api, spotJob.id, { timeoutMs: 900_000, signal: o.signal, trouble: () => fleet.failures[0] ?? null });
      if (done.job.status !== "completed") fail(`the job handed back at the spot notice ended ${done.job.status}: ${done.job.error?.message ?? ""}`);
      else if (await sameBytes("after a spot notice", new Map(done.job.files.map((f) => [f.path, f.url ?? ""])), five)) summary.jobs_completed++;
    }

    // Back to zero: idle for idle_minutes, the seedbox ends itself with a decrement.
    const deadline = Date.now() + ((o.idleMinutes ?? 1) * 60 + 240) * 1000;
    while (Date.now() < deadline) {
      const st = fleet.state();
      if (st.desired === 0 && st.running === 0) break;
      await sleep(2_000, o.signal);
    }
    const st = fleet.state();
    summary.back_to_zero = st.desired === 0 && st.running === 0;
    if (!summary.back_to_zero) fail(`the fleet did not return to zero: desired ${st.desired}, containers ${st.running}`);

    // What the instances reached: Debian's archive and PyPI through the proxy, nothing else; IMDSv2 only.
    summary.egress = [...new Set(fleet.instances.flatMap((m) => m.instance.egress.map((e) => `${e.host}${e.allowed ? "" : " (refused)"}`)))].sort();
    summary.imds_without_token = fleet.instances.reduce((n, m) => n + m.imds.requests.filter((r) => r.status === 401).length, 0);

    // Least privilege, as run: every call each role made, against that role's applied policies.
    const iam = new IAMClient({ region, endpoint: moto.endpoint, credentials: adminKeys });
    const policies = new Map<string, RolePolicy[]>();
    for (const roleArn of recorder.roles()) policies.set(roleArn, await rolePolicies(iam, roleArn));
    iam.destroy();
    const calls = recorder.calls();
    const verdict = await evaluateCalls(calls, policies);
    summary.iam_calls = verdict.calls;
    summary.iam_enforced = verdict.calls > 0 && policies.size > 0;
    for (const d of verdict.denied) fail(`${d.roleArn.split("/").pop()} made ${d.action} on ${d.resource}, which its policies do not allow (${d.decision}${d.reason ? `: ${d.reason}` : ""})`);
    summary.unused_grants = verdict.unusedGrants.map((g) => `${g.roleArn.split("/").pop()}: ${g.action} on ${g.resource}`);

    // Canaries: the same checks must fail on a broken world. A grant taken from a role denies its call.
    const denied = new Set(verdict.denied.map((d) => JSON.stringify([d.roleArn, d.action, d.resource])));
    const probe = calls.find((c) => !denied.has(JSON.stringify([c.roleArn, c.action, c.resource])) && grantsLiterally(policies.get(c.roleArn) ?? [], c.action));
    if (probe) {
      const without = new Map(policies);
      without.set(probe.roleArn, withoutAction(policies.get(probe.roleArn) ?? [], probe.action));
      summary.canaries.grant_removed = (await evaluateCalls([probe], without)).denied.length === 1;
      o.log(`canary: ${probe.action} taken from ${probe.roleArn.split("/").pop()}: ${summary.canaries.grant_removed ? "denied, as it must be" : "still allowed"}`);
    }
    return summary;
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err) => o.log(`cleanup: ${(err as Error).message}`));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether an Allow statement names `action` itself (not only through a wildcard). */
function grantsLiterally(policies: RolePolicy[], action: string): boolean {
  return policies.some((p) => statements(p).some((st) => st.Effect === "Allow" && listOf(st.Action).includes(action)));
}

/** The policies with `action` taken out of every statement that names it (a statement left with none goes). */
function withoutAction(policies: RolePolicy[], action: string): RolePolicy[] {
  return policies.map((p) => ({
    ...p,
    document: {
      ...p.document,
      Statement: statements(p).flatMap((st) => {
        if (!listOf(st.Action).includes(action)) return [st];
        const rest = listOf(st.Action).filter((a) => a !== action);
        return rest.length ? [{ ...st, Action: rest }] : [];
      }),
    },
  }));
}

const statements = (p: RolePolicy) => (Array.isArray(p.document.Statement) ? p.document.Statement : [p.document.Statement]);
const listOf = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A distribution edit: the behaviour for `pattern` removed. */
function withoutBehaviour(pattern: string) {
  return (config: AppliedDistribution["config"]) => {
    const items = (config.CacheBehaviors?.Items ?? []).filter((b) => b.PathPattern !== pattern);
    return { ...config, CacheBehaviors: { Quantity: items.length, Items: items } };
  };
}

/** `p`, or a rejection as soon as `signal` aborts (for waits that take no signal). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason as Error);
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
