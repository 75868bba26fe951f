// Uploads one file with the seedbox's own uploader, as a process of its own so the benchmark can
// measure its CPU time and peak memory the way it measures aws s3 cp and rclone.
// Usage: node bench/upload-file.ts <file> <bucket> <key>   (AWS_ENDPOINT_URL and credentials from the env)
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import { createLogger } from "../lib/log.ts";
import { uploadTunables } from "../seedbox/config.ts";
import { Uploader } from "../seedbox/uploader.ts";

const [file, bucketName, key] = process.argv.slice(2);
if (!file || !bucketName || !key) throw new Error("usage: node bench/upload-file.ts <file> <bucket> <key>");
const clients = awsClients({ region: process.env.AWS_REGION ?? "us-east-1", endpoint: process.env.AWS_ENDPOINT_URL });
const bucket = new Bucket(clients.s3, bucketName);
const uploader = new Uploader({ bucket, roots: [], ...uploadTunables(process.env), log: createLogger("bench") });
await uploader.putFile(file, key, basename(file), (await stat(file)).size, () => {}, AbortSignal.timeout(600_000));
destroyClients(clients);
