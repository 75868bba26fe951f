// Local mode's generated secrets, kept in the data folder (mode 0600), never printed but the API token.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface LocalSecrets {
  apiToken: string;
  signingSecret: string;
  /** The local S3 store's keys, which also sign the links it serves. */
  s3: { accessKeyId: string; secretAccessKey: string };
}

const generate = (): LocalSecrets => ({
  apiToken: randomBytes(24).toString("base64url"),
  signingSecret: randomBytes(32).toString("base64url"),
  s3: { accessKeyId: `T2S${randomBytes(8).toString("hex").toUpperCase()}`, secretAccessKey: randomBytes(30).toString("base64url") },
});

export async function localSecrets(dataDir: string): Promise<LocalSecrets> {
  const path = join(dataDir, "secrets.json");
  const kept = existsSync(path) ? (JSON.parse(await readFile(path, "utf8")) as Partial<LocalSecrets>) : {};
  const s = { ...generate(), ...kept };
  // A data folder from before a secret existed gets it added; the ones it has stay as they were.
  if (Object.keys(kept).length !== Object.keys(s).length) await writeFile(path, JSON.stringify(s), { mode: 0o600 });
  return s;
}
