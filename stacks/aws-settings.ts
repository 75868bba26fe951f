// The AWS-mode settings: defaults, plain-value checks at synth time, and the same checks as
// terraform variable validations (for values passed with -var at deploy time).

export type Arch = "arm64" | "x86_64";

export interface AwsSettings {
  /** Prefix of every resource name and of the SSM parameters (/<name>/...). */
  name: string;
  region: string;
  arch: Arch;
  /** Empty: t4g.small on arm64, t3.small on x86_64. */
  instanceType: string;
  volumeGiB: number;
  /** The fleet's most seedboxes at once (the Auto Scaling group's max). */
  maxSeedboxes: number;
  /** Minutes a seedbox with no work waits before it terminates itself. */
  idleMinutes: number;
  /** Torrents one seedbox holds at once (T2S_MAX_TORRENTS), for ingest's scale-up and the seedbox alike. */
  maxTorrents: number;
  /** Spot instances (capacity-optimised, no on-demand base) instead of on-demand. */
  spot: boolean;
  /** More instance types the group may launch after instanceType (spot pools); same CPU architecture. */
  instanceTypes: string[];
  retentionDays: number;
  /** Discord user or role ids allowed to use the bot; empty allows nobody. */
  discordAllowList: string[];
  /** The Discord application's public key (hex, from the developer portal; not a secret); empty: no bot. */
  discordPublicKey: string;
  /**
   * The public half (PEM) of the RSA key pair that signs download URLs; its private half is the SSM
   * SecureString /<name>/cloudfront-private-key. Empty: downloads stay S3 presigned URLs.
   */
  downloadsPublicKey: string;
  /** The month's estimated spend in USD at which new jobs wait and the fleet is not raised; empty: no guard. */
  monthlyBudgetUsd: string;
  /** Where alarms are e-mailed (an SNS e-mail subscription the owner confirms once); empty: the topic only. */
  alarmEmail: string;
  /** Days CloudWatch keeps the Lambdas' and the seedboxes' logs (one of CloudWatch's allowed values). */
  logRetentionDays: number;
  /**
   * The public qBittorrent function's reserved concurrency: at most this many run at once, so a flood of
   * strangers cannot run up the bill. -1 reserves none (an account whose concurrency quota is under
   * 100 + this cannot reserve any); 0 turns the qBittorrent API off.
   */
  qbittorrentConcurrency: number;
  /**
   * Deletion protection on the job table, and a bucket destroy refuses while it holds objects. Set it
   * false and deploy before a destroy meant to delete the data.
   */
  keepData: boolean;
}

export const awsDefaults: AwsSettings = {
  name: "t2s",
  region: "us-east-1",
  arch: "arm64",
  instanceType: "",
  volumeGiB: 50,
  maxSeedboxes: 3,
  idleMinutes: 10,
  maxTorrents: 4,
  spot: false,
  instanceTypes: [],
  retentionDays: 7,
  discordAllowList: [],
  discordPublicKey: "",
  downloadsPublicKey: "",
  monthlyBudgetUsd: "",
  alarmEmail: "",
  logRetentionDays: 30,
  qbittorrentConcurrency: 5,
  keepData: true,
};

/** The retention periods CloudWatch Logs accepts, in days. */
export const logRetentionChoices = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
// Plain enough for a terraform regex too (no backslash, no quote); SNS itself checks the address when it sends.
export const emailPattern = /^[^@ ]+@[^@ ]+[.][^@ ]+$/;

export const archs: readonly Arch[] = ["arm64", "x86_64"];
export const minVolumeGiB = 8;
export const maxSeedboxesLimit = 100;
export const maxQbittorrentConcurrency = 100;
// [.] rather than \. : the pattern also goes into a terraform validation, where "\." is no escape.
export const instanceTypePattern = /^[a-z][a-z0-9-]*[.][a-z0-9]+$/;
const namePattern = /^[a-z][a-z0-9-]{1,20}$/;
export const publicKeyPattern = /^[0-9a-f]{64}$/;

export class SettingsError extends Error {
  override name = "SettingsError";
}

/** Throws one clear error naming the setting, its value and what is allowed. */
export function validateSettings(s: AwsSettings): AwsSettings {
  const bad = (what: string) => {
    throw new SettingsError(`aws stack: ${what}`);
  };
  if (!namePattern.test(s.name)) bad(`name ${JSON.stringify(s.name)} must be 2-21 characters: lowercase letters, digits, "-", starting with a letter`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(s.region)) bad(`region ${JSON.stringify(s.region)} is not an AWS region name such as "us-east-1"`);
  if (!archs.includes(s.arch)) bad(`arch ${JSON.stringify(s.arch)} is unknown; use "arm64" (t4g) or "x86_64"`);
  for (const t of [s.instanceType, ...s.instanceTypes].filter(Boolean)) if (!instanceTypePattern.test(t)) bad(`instance type ${JSON.stringify(t)} is not an EC2 instance type such as "t4g.small"`);
  if (!Number.isInteger(s.maxSeedboxes) || s.maxSeedboxes < 1 || s.maxSeedboxes > maxSeedboxesLimit) bad(`max seedboxes ${s.maxSeedboxes} must be a whole number from 1 to ${maxSeedboxesLimit}`);
  if (!Number.isInteger(s.idleMinutes) || s.idleMinutes < 1) bad(`idle minutes ${s.idleMinutes} must be a whole number of at least 1`);
  if (!Number.isInteger(s.maxTorrents) || s.maxTorrents < 1) bad(`max torrents ${s.maxTorrents} must be a whole number of at least 1`);
  if (!Number.isInteger(s.volumeGiB) || s.volumeGiB < minVolumeGiB || s.volumeGiB > 16384) bad(`volume size ${s.volumeGiB} GiB must be a whole number from ${minVolumeGiB} to 16384`);
  if (!Number.isInteger(s.retentionDays) || s.retentionDays < 1) bad(`retention ${s.retentionDays} days must be a whole number of at least 1 (S3 lifecycle expiry needs >= 1 day)`);
  for (const id of s.discordAllowList) if (!/^\d{5,25}$/.test(id)) bad(`Discord allow-list entry ${JSON.stringify(id)} is not a Discord id (digits only)`);
  if (s.discordPublicKey && !publicKeyPattern.test(s.discordPublicKey)) bad("the Discord public key must be the 64 hex characters the developer portal shows");
  if (s.downloadsPublicKey && !/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/.test(s.downloadsPublicKey)) bad("the downloads public key must be a PEM public key (openssl rsa -pubout)");
  if (s.monthlyBudgetUsd !== "" && !(/^\d+(\.\d+)?$/.test(s.monthlyBudgetUsd))) bad(`monthly budget ${JSON.stringify(s.monthlyBudgetUsd)} must be empty (no guard) or a number of dollars such as "25"`);
  if (s.alarmEmail && !emailPattern.test(s.alarmEmail)) bad(`alarm e-mail ${JSON.stringify(s.alarmEmail)} is not an e-mail address`);
  if (!(logRetentionChoices as readonly number[]).includes(s.logRetentionDays)) bad(`log retention ${s.logRetentionDays} days must be one of CloudWatch's: ${logRetentionChoices.join(", ")}`);
  if (!Number.isInteger(s.qbittorrentConcurrency) || s.qbittorrentConcurrency < -1 || s.qbittorrentConcurrency > maxQbittorrentConcurrency) bad(`qBittorrent concurrency ${s.qbittorrentConcurrency} must be a whole number from -1 (none reserved) to ${maxQbittorrentConcurrency}`);
  return s;
}

/** Settings from T2S_AWS_* environment variables over `base` (the settings file, else the defaults), validated. */
export function settingsFromEnv(env: Record<string, string | undefined>, base: AwsSettings = awsDefaults): AwsSettings {
  const pick = (k: string) => (env[k] !== undefined && env[k] !== "" ? env[k] : undefined);
  const num = (k: string, d: number) => (pick(k) === undefined ? d : Number(pick(k)));
  const list = (k: string, d: string[]) => (pick(k) === undefined ? d : pick(k)!.split(",").map((x) => x.trim()).filter(Boolean));
  const flag = (k: string, d: boolean) => (pick(k) === undefined ? d : ["1", "on", "true"].includes(pick(k)!));
  return validateSettings({
    name: pick("T2S_AWS_NAME") ?? base.name,
    region: pick("T2S_AWS_REGION") ?? base.region,
    arch: (pick("T2S_AWS_ARCH") ?? base.arch) as Arch,
    instanceType: pick("T2S_AWS_INSTANCE_TYPE") ?? base.instanceType,
    volumeGiB: num("T2S_AWS_VOLUME_GIB", base.volumeGiB),
    maxSeedboxes: num("T2S_AWS_MAX_SEEDBOXES", base.maxSeedboxes),
    idleMinutes: num("T2S_AWS_IDLE_MINUTES", base.idleMinutes),
    maxTorrents: num("T2S_AWS_MAX_TORRENTS", base.maxTorrents),
    spot: flag("T2S_AWS_SPOT", base.spot),
    instanceTypes: list("T2S_AWS_INSTANCE_TYPES", base.instanceTypes),
    retentionDays: num("T2S_AWS_RETENTION_DAYS", base.retentionDays),
    // Local mode's two names work too (one list serves both: user and role ids never collide).
    discordAllowList: list("T2S_AWS_DISCORD_ALLOW", pick("DISCORD_ALLOWED_USERS") ?? pick("DISCORD_ALLOWED_ROLES") ? [...new Set([...list("DISCORD_ALLOWED_USERS", []), ...list("DISCORD_ALLOWED_ROLES", [])])] : base.discordAllowList),
    discordPublicKey: (pick("T2S_AWS_DISCORD_PUBLIC_KEY") ?? base.discordPublicKey).toLowerCase(),
    alarmEmail: pick("T2S_AWS_ALARM_EMAIL") ?? base.alarmEmail,
    logRetentionDays: num("T2S_AWS_LOG_RETENTION_DAYS", base.logRetentionDays),
    qbittorrentConcurrency: num("T2S_AWS_QBITTORRENT_CONCURRENCY", base.qbittorrentConcurrency),
    keepData: flag("T2S_AWS_KEEP_DATA", base.keepData),
    downloadsPublicKey: pick("T2S_AWS_DOWNLOADS_PUBLIC_KEY") ?? base.downloadsPublicKey,
    monthlyBudgetUsd: pick("T2S_AWS_MONTHLY_BUDGET_USD") ?? base.monthlyBudgetUsd,
  });
}

/** The settings file's name: kept beside the state, out of git (it is the owner's, not the project's). */
export const settingsFileName = "t2s.aws.json";

/**
 * The settings a file's text holds, over the defaults, validated. A key the stack does not know, a value
 * of the wrong kind or out of range stops here with a message naming the file, the key and what is allowed.
 */
export function settingsFromFile(text: string, where = settingsFileName): AwsSettings {
  const bad = (what: string): never => {
    throw new SettingsError(`${where}: ${what}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return bad(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return bad("must hold one JSON object of settings");
  const out: Record<string, unknown> = { ...awsDefaults };
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(awsDefaults, key)) bad(`unknown setting ${JSON.stringify(key)}; the settings are ${Object.keys(awsDefaults).join(", ")}`);
    const want = kindOf((awsDefaults as unknown as Record<string, unknown>)[key]);
    if (kindOf(value) !== want) bad(`${key} must be ${want === "list" ? "a list of strings" : `a ${want}`}, not ${JSON.stringify(value)}`);
    out[key] = value;
  }
  try {
    return validateSettings(out as unknown as AwsSettings);
  } catch (e) {
    return bad((e as Error).message.replace(/^aws stack: /, ""));
  }
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return v.every((x) => typeof x === "string") ? "list" : "mixed list";
  return typeof v;
}

/** The file's text for these settings: every key, so the owner sees what can be set. */
export function settingsFileText(s: AwsSettings): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/** One line per setting that differs between the last deploy's settings and these (none when unchanged; all on the first deploy). */
export function settingsChanges(before: AwsSettings | undefined, after: AwsSettings): string[] {
  if (!before) return Object.entries(after).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return (Object.keys(after) as (keyof AwsSettings)[])
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => `  ${k}: ${JSON.stringify(before[k])} -> ${JSON.stringify(after[k])}`);
}

/** The SSM parameter names the owner sets (values never pass through terraform). */
export function secretNames(name: string) {
  return {
    apiToken: `/${name}/api-token`,
    signingSecret: `/${name}/signing-secret`,
    discordToken: `/${name}/discord-token`,
    downloadsPrivateKey: `/${name}/cloudfront-private-key`,
  };
}

export type SecretKey = keyof ReturnType<typeof secretNames>;

/**
 * The functions whose roles may read each parameter (stacks/ingest-lambda.ts, discord-lambda.ts; the
 * synth test holds the two together). A rotation refreshes exactly these. The seedboxes read none.
 */
export function secretReaders(name: string): Record<SecretKey, string[]> {
  const ingest = ["ingest", "ingest-facts", "ingest-webhooks", "ingest-sweep", "ingest-qbt"].map((f) => `${name}-${f}`);
  return {
    apiToken: [...ingest, `${name}-discord`, `${name}-discord-work`, `${name}-discord-updates`],
    signingSecret: ingest,
    discordToken: [`${name}-discord-work`, `${name}-discord-updates`],
    downloadsPrivateKey: [`${name}-ingest`],
  };
}
