// The local S3 store: SeaweedFS (`weed mini`) on loopback, keeping objects, their metadata and open
// multipart uploads on disk in the data folder, so files and links survive a restart.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort, waitFor } from "./net.ts";
import { venvBin } from "./paths.ts";
import { run, startProc, type Proc } from "./proc.ts";

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Store {
  endpoint: string;
  port: number;
  proc: Proc;
}

export async function startS3Store(o: { dir: string; logDir: string; keys: S3Keys }): Promise<S3Store> {
  const bin = venvBin("weed");
  if (!existsSync(bin)) throw new Error(`SeaweedFS is missing at ${bin}: run "bash scripts/bootstrap.sh"`);
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  // One identity, with the generated keys: without it the store would accept anonymous requests.
  const config = join(o.dir, "s3-identities.json");
  await writeFile(config, JSON.stringify({
    identities: [{ name: "t2s", credentials: [{ accessKey: o.keys.accessKeyId, secretKey: o.keys.secretAccessKey }], actions: ["Admin", "Read", "Write", "List", "Tagging"] }],
  }), { mode: 0o600 });
  // weed mini opens a master, a volume server, a filer, S3 and an admin server, each with a gRPC twin:
  // every one gets a free loopback port, so nothing collides with other stacks or listens beyond loopback.
  const flags: string[] = [];
  let s3Port = 0;
  for (const server of ["master", "volume", "filer", "s3", "admin"]) {
    const [port, grpc] = [await freePort(), await freePort()];
    if (server === "s3") s3Port = port;
    flags.push(`-${server}.port=${port}`, `-${server}.port.grpc=${grpc}`);
  }
  const args = [
    "mini", `-dir=${join(o.dir, "data")}`, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
    "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-metricsPort=0",
    // The inner servers are reachable by every account on the machine: -disableHttp takes the master's and
    // the filer's HTTP APIs away (the master handed out write tokens and deleted collections, the filer
    // served every object by path), and the volume server's reads and writes need a JWT (innerServerKeys).
    "-disableHttp",
    `-s3.config=${config}`,
    // Memory, measured with 8 MiB parts two at a time: 1 MiB chunks instead of 4 take an 8 GiB upload's
    // peak from 203 to 163 MB, and a budget for GET buffers keeps one fast 1 GiB download at 158 MB
    // instead of 1067 (at about 140 MB/s over loopback rather than 450: still a LAN's full speed).
    "-filer.maxMB=1", "-s3.readerCacheSizeMB=32",
    ...flags,
  ];
  await mkdir(join(o.dir, "data"), { recursive: true });
  const proc = startProc("s3-store", bin, args, {
    logFile: join(o.logDir, "s3-store.log"),
    // Go's heap grows to twice the live data by default; a soft limit keeps large uploads from doing so.
    // Not lower: 1 GiB uploaded at 256MiB cost the store 24 CPU s (the GC ran without end), at 320MiB 11 s
    // and twice the speed, with the peak RSS about the same (164 against 177 MB).
    env: { ...process.env, GOMEMLIMIT: process.env.T2S_S3_STORE_MEMLIMIT ?? "320MiB", ...innerServerKeys(), ...(await grpcTls(o.dir)) },
  });
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const s3 = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: o.keys, maxAttempts: 1 });
  // Its ports open before its filer can answer: a signed request that succeeds is the readiness check.
  await waitFor("local S3 store", async () => (await s3.send(new ListBucketsCommand({})), true), 60_000, proc.exited)
    .catch(async (err) => {
      await proc.stop();
      throw err;
    })
    .finally(() => s3.destroy());
  return { endpoint, port: s3Port, proc };
}

/**
 * JWT signing keys for the store's inner HTTP servers: the master signs volume writes and reads, the S3
 * gateway signs filer writes and reads, and each server refuses requests without a valid token. Tokens
 * live 10 s inside this one process, so fresh keys each start do, and none is written down; the
 * environment (SeaweedFS reads WEED_JWT_*) is readable only by this user, unlike the command line.
 */
function innerServerKeys(): Record<string, string> {
  const names = ["WEED_JWT_SIGNING_KEY", "WEED_JWT_SIGNING_READ_KEY", "WEED_JWT_FILER_SIGNING_KEY", "WEED_JWT_FILER_SIGNING_READ_KEY"];
  return Object.fromEntries(names.map((name) => [name, randomBytes(32).toString("base64url")]));
}

/**
 * Mutual TLS on the inner servers' gRPC ports (master, volume, filer, S3, admin): without it, anyone on
 * the machine could point `weed shell` at them and read, change or delete everything. One certificate
 * serves all of them and their clients; the CA that signed it is thrown away at once, so no other
 * certificate will ever be accepted. Made with openssl on the first start and kept in the store's folder.
 */
async function grpcTls(dir: string): Promise<Record<string, string>> {
  const tls = join(dir, "tls");
  const [ca, cert, key] = ["ca.crt", "store.crt", "store.key"].map((f) => join(tls, f)) as [string, string, string];
  if (![ca, cert, key].every((f) => existsSync(f))) {
    // Made aside and moved into place whole, so an interrupted start leaves nothing half made.
    const tmp = `${tls}.new`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    const at = (f: string) => join(tmp, f);
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    const openssl = (...args: string[]) => run("openssl", args).catch((err: Error) => {
      throw new Error(`making the local store's gRPC certificates needs openssl: ${err.message}`);
    });
    await openssl("req", "-x509", ...ec, "-keyout", at("ca.key"), "-out", at("ca.crt"), "-days", "36500", "-subj", "/CN=t2s local store CA");
    await openssl("req", ...ec, "-keyout", at("store.key"), "-out", at("store.csr"), "-subj", "/CN=t2s local store");
    await writeFile(at("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
    await openssl("x509", "-req", "-in", at("store.csr"), "-CA", at("ca.crt"), "-CAkey", at("ca.key"), "-set_serial", `0x${randomBytes(16).toString("hex")}`,
      "-days", "36500", "-extfile", at("ext.cnf"), "-out", at("store.crt"));
    for (const f of ["ca.key", "store.csr", "ext.cnf"]) await rm(at(f));
    await chmod(at("store.key"), 0o600);
    await rm(tls, { recursive: true, force: true });
    await rename(tmp, tls);
  }
  // SeaweedFS reads security.toml's settings from WEED_* variables too: [grpc] ca, [grpc.<component>] cert and key.
  const env: Record<string, string> = { WEED_GRPC_CA: ca };
  for (const c of ["MASTER", "VOLUME", "FILER", "S3", "ADMIN", "WORKER", "CLIENT"]) Object.assign(env, { [`WEED_GRPC_${c}_CERT`]: cert, [`WEED_GRPC_${c}_KEY`]: key });
  return env;
}
