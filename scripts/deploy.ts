// `npm run deploy [-- cdktf deploy options]`: AWS mode's deploy. It checks the settings (t2s.aws.json,
// T2S_AWS_* over it), prints what changed since the last deploy before terraform asks to apply, runs
// `cdktf deploy aws`, and saves the settings once the deploy succeeded, so the next one keeps them.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { SettingsError, settingsChanges } from "../stacks/aws-settings.ts";
import { loadSettings, saveSettings, settingsPath } from "../stacks/settings-file.ts";

export interface DeployDeps {
  env: Record<string, string | undefined>;
  root: string;
  /** Runs `cdktf deploy aws ...args` and returns its exit code. */
  run: (args: string[]) => number;
  print: (line: string) => void;
}

export function deploy(args: string[], d: DeployDeps): number {
  let loaded;
  try {
    loaded = loadSettings(settingsPath(d.env, d.root), d.env);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    d.print(e.message);
    return 1;
  }
  const changes = settingsChanges(loaded.saved, loaded.settings);
  if (!loaded.saved) d.print(`t2s deploy: first deploy; ${loaded.path} will keep these settings:`);
  else if (changes.length) d.print(`t2s deploy: changed since the last deploy (${loaded.path}):`);
  else d.print(`t2s deploy: no setting changed since the last deploy (${loaded.path})`);
  for (const line of changes) d.print(line);
  const code = d.run(args);
  if (code === 0) saveSettings(loaded.path, loaded.settings);
  else if (changes.length) d.print(`t2s deploy: not saved (cdktf exited with ${code}); the next deploy shows the same changes`);
  return code;
}

if (import.meta.main) {
  const root = join(import.meta.dirname, "..");
  process.exitCode = deploy(process.argv.slice(2), {
    env: process.env,
    root,
    run: (args) => spawnSync(join(root, "node_modules", ".bin", "cdktf"), ["deploy", "aws", ...args], {
      stdio: "inherit", cwd: root, env: { ...process.env, T2S_AWS_SETTINGS_SAVED_BY: "deploy" },
    }).status ?? 1,
    print: (line) => console.log(line),
  });
}
