// The deploy settings file (t2s.aws.json): read, with the environment over it, and written back after a
// deploy so that a later deploy from a fresh shell keeps them. Pure rules are in aws-settings.ts.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { settingsFileName, settingsFileText, settingsFromEnv, settingsFromFile, type AwsSettings } from "./aws-settings.ts";

export interface LoadedSettings {
  /** What this deploy uses: the file, with any T2S_AWS_* variable over it. */
  settings: AwsSettings;
  /** What the file holds (the last deploy's settings); undefined before the first deploy. */
  saved: AwsSettings | undefined;
  path: string;
}

/** T2S_AWS_SETTINGS moves the file (tests; several installs from one checkout). */
export function settingsPath(env: Record<string, string | undefined>, root: string): string {
  return env.T2S_AWS_SETTINGS || join(root, settingsFileName);
}

/** Throws SettingsError (a plain message) on an unreadable file, an unknown key or a bad value. */
export function loadSettings(path: string, env: Record<string, string | undefined>): LoadedSettings {
  const saved = existsSync(path) ? settingsFromFile(readFileSync(path, "utf8"), path) : undefined;
  return { settings: settingsFromEnv(env, saved), saved, path };
}

export function saveSettings(path: string, s: AwsSettings): void {
  // Whole or not at all: a half-written file would stop the next deploy.
  writeFileSync(`${path}.tmp`, settingsFileText(s));
  renameSync(`${path}.tmp`, path);
}
