// Local mode's generated secrets, kept in the data folder (mode 0600), never printed but the API token.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface LocalSecrets {
  apiToken: string;
  signingSecret: string;
}

export async function localSecrets(dataDir: string): Promise<LocalSecrets> {
  const path = join(dataDir, "secrets.json");
  if (existsSync(path)) return JSON.parse(await readFile(path, "utf8")) as LocalSecrets;
  const s: LocalSecrets = { apiToken: randomBytes(24).toString("base64url"), signingSecret: randomBytes(32).toString("base64url") };
  await writeFile(path, JSON.stringify(s), { mode: 0o600 });
  return s;
}
