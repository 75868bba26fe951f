// `npm run rotate-secrets -- api-token|signing-secret|discord-token ...`: AWS mode's secret rotation.
// It writes each new value to its SSM parameter (api-token and signing-secret: 32 random bytes; the
// Discord token: read from stdin, never from the command line), then refreshes every function that
// reads a rotated parameter, so no warm instance keeps the old value. It prints names, never values.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SSMClient } from "@aws-sdk/client-ssm";
import { clientDefaults } from "../lib/aws/clients.ts";
import { refreshFunction } from "../lib/aws/functions.ts";
import { putSecret } from "../lib/aws/ssm.ts";
import { SettingsError, secretNames, secretReaders, type SecretKey } from "../stacks/aws-settings.ts";
import { loadSettings, settingsPath } from "../stacks/settings-file.ts";

const choices: Record<string, SecretKey> = { "api-token": "apiToken", "signing-secret": "signingSecret", "discord-token": "discordToken" };

export interface RotateDeps {
  /** The stack's name (parameters /<name>/..., functions <name>-...). */
  name: string;
  putSecret: (parameter: string, value: string) => Promise<void>;
  refresh: (fn: string, description: string) => Promise<void>;
  /** The new Discord token, as the developer portal shows it. */
  readDiscordToken: () => Promise<string>;
  print: (line: string) => void;
  now?: () => Date;
}

/** Returns the exit code: 2 for a usage error, 1 when a step failed (the rest is still attempted). */
export async function rotateSecrets(args: string[], d: RotateDeps): Promise<number> {
  const unknown = args.filter((a) => !(a in choices));
  if (args.length === 0 || unknown.length) {
    d.print(`usage: npm run rotate-secrets -- ${Object.keys(choices).join(" | ")} (one or more)${unknown.length ? `; unknown: ${unknown.join(" ")}` : ""}`);
    return 2;
  }
  const keys = [...new Set(args.map((a) => choices[a]!))];
  const params = secretNames(d.name);
  const readers = secretReaders(d.name);
  const fresh: Partial<Record<SecretKey, string>> = {};
  for (const k of keys) {
    fresh[k] = k === "discordToken" ? (await d.readDiscordToken()).trim() : randomBytes(32).toString("hex");
    if (!fresh[k]) {
      d.print("no Discord token on stdin; nothing was changed");
      return 2;
    }
  }
  for (const k of keys) {
    await d.putSecret(params[k], fresh[k]!);
    d.print(`rotated ${params[k]}`);
  }
  const fns = [...new Set(keys.flatMap((k) => readers[k]))].sort();
  const when = (d.now ?? (() => new Date()))().toISOString();
  let failed = 0;
  for (const fn of fns) {
    try {
      await d.refresh(fn, `secrets rotated ${when}`);
      d.print(`refreshed ${fn}`);
    } catch (err) {
      failed++;
      d.print(`could not refresh ${fn}: ${(err as Error).message}; its warm instances keep the old value until they end`);
    }
  }
  if (keys.includes("apiToken")) d.print(`the new API token: aws ssm get-parameter --with-decryption --name ${params.apiToken} --query Parameter.Value --output text`);
  if (keys.includes("signingSecret")) d.print("everyone is signed out, and links handed out before now no longer work");
  return failed ? 1 : 0;
}

if (import.meta.main) {
  const root = join(import.meta.dirname, "..");
  let settings;
  try {
    settings = loadSettings(settingsPath(process.env, root), process.env).settings;
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
  // The deploy's region (t2s.aws.json or T2S_AWS_REGION), not whatever the shell's AWS profile says.
  const cfg = { region: settings.region, endpoint: process.env.AWS_ENDPOINT_URL };
  const ssm = new SSMClient(clientDefaults(cfg));
  const lambda = new LambdaClient(clientDefaults(cfg));
  process.exitCode = await rotateSecrets(process.argv.slice(2), {
    name: settings.name,
    putSecret: (p, v) => putSecret(ssm, p, v),
    refresh: (fn, description) => refreshFunction(lambda, fn, description),
    readDiscordToken: () => text(process.stdin),
    print: (line) => console.log(line),
  });
}
