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
import { sleep } from "../../lib/time.ts";
import { startMoto } from "../local/moto.ts";
import type { Keys } from "../local/moto-guard.ts";
import { secretNames } from "../../stacks/aws-settings.ts";
import { containerPreflight, debianMirror, debianRootfs, setupPhases } from "./container.ts";
import { fetchLink, follow, rehearsalClient } from "./drive.ts";
import { startFleet } from "./fleet.ts";
import { assumeRole, evaluateRecorder, IamRecorder } from "./iam.ts";
import { startLambdaRunner, type RoleCredentials } from "./lambda.ts";
import { startSwarm } from "./peers.ts";
import { motoQuery } from "./query.ts";
import { applyAwsStack, liftTlsOnlyStatements, motoAccount, motoEnv, resourcesOf, rehearsalRegion as region } from "./stack.ts";
import { startFront } from "./front.ts";

export interface RehearsalSummary {
  jobs_completed: number;
  /** Container start -> the seedbox logs "seedbox running". */
  boot_s: number | null;
  boot_phases_s: Record<string, number> | null;
  /** First job submitted on a fleet at 0 -> its first bytes downloaded (EC2's own launch not included). */
  first_byte_from_zero_s: number | null;
  back_to_zero: boolean;
  /** Every call each role made was judged against its applied policies (the simulator; see iam.ts). */
  iam_enforced: boolean;
  iam_calls: number;
  unused_grants: string[];
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
  const summary: RehearsalSummary = { jobs_completed: 0, boot_s: null, boot_phases_s: null, first_byte_from_zero_s: null, back_to_zero: false, iam_enforced: false, iam_calls: 0, unused_grants: [], failures: [] };
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
    // The Discord application's key pair: the stand-in signs interactions with its private half.
    const discordKeys = generateKeyPairSync("ed25519");
    const discordPublicKey = Buffer.from(discordKeys.publicKey.export({ format: "jwk" }).x!, "base64url").toString("hex");
    const stack = await applyAwsStack({
      dir, motoEndpoint: moto.endpoint, log: o.log,
      settings: { name: stackName, idleMinutes: o.idleMinutes ?? 1, maxSeedboxes: 2, arch: hostArch, discordPublicKey, discordAllowList: [rehearsalUser] },
    });
    o.signal.throwIfAborted();
    const s3 = new S3Client({ region, endpoint: moto.endpoint, credentials: adminKeys, forcePathStyle: true });
    await liftTlsOnlyStatements(s3, o.log);
    s3.destroy();
    const apiToken = randomBytes(32).toString("hex");
    const ssm = new SSMClient({ region, endpoint: moto.endpoint, credentials: adminKeys });
    const secrets = secretNames(stackName);
    for (const [p, v] of [[secrets.apiToken, apiToken], [secrets.signingSecret, randomBytes(32).toString("hex")], [secrets.discordToken, randomBytes(32).toString("hex")]] as const) {
      await ssm.send(new PutParameterCommand({ Name: p, Type: "SecureString", Overwrite: true, Value: v }));
    }
    ssm.destroy();

    // Each function and each instance gets a session of its own role, which the record attributes to it.
    const byRole = new Map<string, Promise<RoleCredentials>>();
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
    const runner = await startLambdaRunner({
      endpoint: moto.endpoint, keys: adminKeys, region, zips, credentialsFor,
      env: { AWS_ENDPOINT_URL: moto.endpoint },
      log: (fn, stream, line) => { if (stream !== "stdout" || /"level":"(warn|error)"/.test(line)) o.log(`[${fn}] ${line}`); },
      urlSigner: (id) => (id === cloudfrontKeys.accessKeyId ? { secretAccessKey: cloudfrontKeys.secretAccessKey, arn: `arn:aws:sts::${motoAccount}:assumed-role/cloudfront/cloudfront` } : undefined),
      tap: moto.tap,
    });
    cleanups.push(() => runner.close());
    const front = await startFront({ motoEndpoint: moto.endpoint, keys: adminKeys, region, cloudfrontKeys, runner, statePath: stack.statePath });
    cleanups.push(() => front.close());
    o.log(`CloudFront stand-in at ${front.url}, from the applied distribution`);
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

    // A fleet at zero: the first job raises it.
    const api = rehearsalClient(front.url, apiToken);
    const made = await swarm.seed("rehearsal-one", [{ path: ["a.bin"], size: 6 * 1024 * 1024 }, { path: ["sub", "b.bin"], size: 3 * 1024 * 1024 }]);
    const submittedAt = Date.now();
    const { job } = await api.submit({ magnet: swarm.magnet(made) });
    o.log(`submitted ${job.id} (magnet) on a fleet at ${fleet.state().desired}`);
    const followed = await follow(api, job.id, {
      timeoutMs: 900_000, signal: o.signal,
      onChange: (j) => o.log(`job ${j.id}: ${j.status} ${j.progress}%`),
      trouble: () => fleet.failures[0] ?? null,
    });
    const first = fleet.instances[0];
    if (first) {
      const running = first.instance.entries.find((e) => e.unit === "t2s-seedbox.service" && /"msg":"seedbox running"/.test(e.msg));
      const at = Object.fromEntries(setupPhases(first.instance.entries).map((p) => [p.phase, p.at]));
      summary.boot_s = secondS(first.instance.startedAt, running?.at);
      summary.boot_phases_s = { os: secondS(first.instance.startedAt, at.start), apt: secondS(at.apt, at.pip), pip: secondS(at.pip, at.release), release: secondS(at.release, at.services), service_start: secondS(at.services, running?.at) };
    } else fail("no instance booted for the first job");
    summary.first_byte_from_zero_s = secondS(submittedAt, followed.firstByteAt);
    if (followed.job.status !== "completed") fail(`job ${job.id} ended ${followed.job.status}: ${followed.job.error?.message ?? ""}`);
    else {
      summary.jobs_completed++;
      for (const f of followed.job.files) {
        const got = f.url ? await fetchLink(viaFront(f.url)) : null;
        if (!got || got.status !== 200 || got.sha256 !== made.sha256.get(f.path)) fail(`the link of ${f.path} gave ${got ? `HTTP ${got.status}, ${got.bytes} bytes` : "no URL"}, not the seeded bytes`);
      }
      // The zip link is ingest's /zip/<id> behind CloudFront (the route that once fell to the page bucket).
      const zip = followed.job.zip ? await fetchLink(viaFront(followed.job.zip.url)) : null;
      const expected = made.files.reduce((n, f) => n + f.size, 0);
      if (!zip || zip.status !== 200 || zip.bytes < expected) fail(`the zip link gave ${zip ? `HTTP ${zip.status}, ${zip.bytes} bytes` : "nothing"}, not a zip of the ${expected} seeded bytes`);
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

    // Least privilege, as run: every call each role made, against that role's applied policies.
    const iam = new IAMClient({ region, endpoint: moto.endpoint, credentials: adminKeys });
    const verdict = await evaluateRecorder(recorder, iam);
    iam.destroy();
    summary.iam_calls = verdict.calls;
    summary.iam_enforced = verdict.calls > 0;
    for (const d of verdict.denied) fail(`${d.roleArn.split("/").pop()} made ${d.action} on ${d.resource}, which its policies do not allow (${d.decision}${d.reason ? `: ${d.reason}` : ""})`);
    summary.unused_grants = verdict.unusedGrants.map((g) => `${g.roleArn.split("/").pop()}: ${g.action} on ${g.resource}`);
    return summary;
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err) => o.log(`cleanup: ${(err as Error).message}`));
    await rm(dir, { recursive: true, force: true });
  }
}
