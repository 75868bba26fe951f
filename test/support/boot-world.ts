// What a seedbox instance meets at boot in AWS mode, on loopback: moto (queues, topics, the job table,
// the API token's parameter), the local S3 store holding the release in the bucket, and a metadata
// stand-in per instance serving the role's credentials. Then the instance itself: a Debian container
// (scripts/rehearse/container.ts) running the rendered user data.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { SSMClient } from "@aws-sdk/client-ssm";
import { awsClients, destroyClients } from "../../lib/aws/clients.ts";
import { buildRelease, releaseFile, type ReleaseArch } from "../../scripts/build-release.ts";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { startS3Store, type S3Store } from "../../scripts/local/s3-store.ts";
import { bootInstance, debianMirror, debianRootfs, type Instance, type JournalEntry } from "../../scripts/rehearse/container.ts";
import { startImds, type Imds } from "../../scripts/rehearse/imds.ts";
import { renderUserData } from "../../stacks/user-data.ts";
import { createJobTable } from "./job-tables.ts";

const name = "t2sboot";
const region = "us-east-1";
const arch: ReleaseArch = process.arch === "arm64" ? "arm64" : "x86_64";

export interface BootWorld {
  moto: Moto;
  store: S3Store;
  /** The user data as the launch template carries it (rendered by stacks/user-data.ts). */
  userData: string;
  /** Boots one instance with this user data (default: the world's). */
  boot(o?: { userData?: string; onEntry?: (e: JournalEntry) => void }): Promise<{ instance: Instance; imds: Imds }>;
  stop(): Promise<void>;
}

export async function startBootWorld(): Promise<BootWorld> {
  const rootfs = await debianRootfs((l) => console.log(`# ${l}`));
  const dir = await mkdtemp(join(tmpdir(), "t2s-boot-"));
  // The role's credentials the metadata stand-in hands out: the store's keys (moto takes any).
  const keys = { accessKeyId: `T2S${randomBytes(8).toString("hex").toUpperCase()}`, secretAccessKey: randomBytes(30).toString("base64url") };
  const moto = await startMoto({ logDir: dir });
  let store: S3Store | undefined;
  const aws = awsClients({ region, endpoint: moto.endpoint }, keys);
  try {
    store = await startS3Store({ dir: join(dir, "store"), logDir: dir, keys });
    const s3 = awsClients({ region, endpoint: store.endpoint }, keys).s3;
    const bucket = `${name}-files`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const releaseDir = await buildRelease(repoRoot, join(dir, "release"), [arch]);
    const releaseKey = `releases/${randomBytes(8).toString("hex")}.tar.gz`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: releaseKey, Body: await readFile(join(releaseDir, releaseFile(arch))) }));
    s3.destroy();
    const topic = async (t: string) => (await aws.sns.send(new CreateTopicCommand({ Name: `${name}-${t}` }))).TopicArn!;
    const queue = async (q: string) => (await aws.sqs.send(new CreateQueueCommand({ QueueName: `${name}-${q}` }))).QueueUrl!;
    const table = `${name}-jobs`;
    await createJobTable(aws.dynamodb, table);
    const ssm = new SSMClient({ region, endpoint: moto.endpoint, credentials: keys });
    await ssm.send(new PutParameterCommand({ Name: `/${name}/api-token`, Type: "SecureString", Value: randomBytes(24).toString("base64url") }));
    ssm.destroy();
    // The launch template's service environment, as stacks/seedbox-fleet.ts sets it.
    const userData = renderUserData({
      region, bucket, releaseKey,
      serviceEnv: {
        AWS_REGION: region,
        T2S_DATA_DIR: "/var/lib/t2s",
        T2S_DOWNLOAD_DIR: "/var/lib/t2s/downloading",
        T2S_BUCKET: bucket,
        T2S_REQUESTS_TOPIC_ARN: await topic("requests"),
        T2S_REQUESTS_QUEUE_URL: await queue("requests"),
        T2S_FACTS_TOPIC_ARN: await topic("facts"),
        T2S_FACTS_QUEUE_URL: await queue("facts-ingest"),
        T2S_UPDATES_TOPIC_ARN: await topic("updates"),
        T2S_FLEET_GROUP: `${name}-seedbox`,
        T2S_MAX_SEEDBOXES: "2",
        T2S_MAX_TORRENTS: "4",
        T2S_IDLE_MINUTES: "15",
        T2S_JOBS_TABLE: table,
        T2S_RETENTION_DAYS: "7",
        T2S_API_TOKEN_PARAM: `/${name}/api-token`,
      },
    }, { forTerraform: false });
    const instances: { instance: Instance; imds: Imds }[] = [];
    return {
      moto, store, userData,
      boot: async (o = {}) => {
        const id = `i-${randomBytes(8).toString("hex")}`;
        const imds = await startImds({ instanceId: id, region, role: { name: `${name}-seedbox`, ...keys, sessionToken: "" } });
        const instance = await bootInstance({
          id, rootfs, userData: o.userData ?? userData, ...(o.onEntry ? { onEntry: o.onEntry } : {}),
          forward: [moto.port, store!.port, Number(new URL(imds.url).port)],
          allowHosts: [new URL(debianMirror()).hostname, "pypi.org", "files.pythonhosted.org"],
          env: { T2S_IMDS_URL: imds.url, AWS_ENDPOINT_URL: moto.endpoint, AWS_ENDPOINT_URL_S3: store!.endpoint, PIP_CERT: "/etc/ssl/certs/ca-certificates.crt" },
        }).catch(async (err) => {
          await imds.close();
          throw err;
        });
        instances.push({ instance, imds });
        return { instance, imds };
      },
      stop: async () => {
        await Promise.all(instances.map(async (i) => (await i.instance.stop(), await i.imds.close())));
        destroyClients(aws);
        await store?.proc.stop();
        await moto.proc.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    destroyClients(aws);
    await store?.proc.stop();
    await moto.proc.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
