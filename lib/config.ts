// Reading configuration from the environment, with one clear error per missing or malformed value.
import { serviceEnvNames as names } from "./service-env.ts";

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function str(env: Env, name: string, fallback?: string): string {
  const v = env[name];
  if (v !== undefined && v !== "") return v;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`${name} is not set`);
}

export function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

export function num(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

export function flag(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  if (v === "on" || v === "1" || v === "true") return true;
  if (v === "off" || v === "0" || v === "false") return false;
  throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(v)}`);
}

export function list(env: Env, name: string): string[] {
  return (env[name] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** The AWS side, shared by every service. */
export interface AwsConfig {
  region: string;
  endpoint: string | undefined;
  /** S3's own endpoint where it differs (local mode: the disk-backed store); else `endpoint`. */
  s3Endpoint: string | undefined;
  bucket: string;
  requestsTopicArn: string;
  requestsQueueUrl: string;
  factsTopicArn: string;
  factsQueueUrl: string;
  updatesTopicArn: string;
  /** SQS long-poll wait; also the longest a service waits on shutdown for a poll to return. */
  queueWaitS: number;
}

export function awsConfig(env: Env): AwsConfig {
  return {
    region: str(env, "AWS_REGION", str(env, "AWS_DEFAULT_REGION", "us-east-1")),
    endpoint: optional(env, "AWS_ENDPOINT_URL"),
    // The SDK's own name for a service's endpoint; read here because an explicit endpoint overrides it.
    s3Endpoint: optional(env, "AWS_ENDPOINT_URL_S3") ?? optional(env, "AWS_ENDPOINT_URL"),
    bucket: str(env, names.bucket),
    requestsTopicArn: str(env, names.requestsTopicArn),
    requestsQueueUrl: str(env, names.requestsQueueUrl),
    factsTopicArn: str(env, names.factsTopicArn),
    factsQueueUrl: str(env, names.factsQueueUrl),
    updatesTopicArn: str(env, names.updatesTopicArn),
    queueWaitS: Math.min(20, num(env, "T2S_SQS_WAIT_S", 20)),
  };
}
