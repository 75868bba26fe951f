// The CDKTF app: `npm run synth` writes cdktf.out/stacks/<name>/cdk.tf.json.
// "local" is local mode; "aws" is AWS mode (`npm run deploy`, or `npx cdktf deploy aws`), whose Lambda
// bundle and app release are built first. Its settings come from t2s.aws.json, with T2S_AWS_* over it.
import { join } from "node:path";
import { App } from "cdktf";
import { buildAws } from "../scripts/build-lambda.ts";
import { SettingsError } from "./aws-settings.ts";
import { AwsStack } from "./aws.ts";
import { LocalStack } from "./local.ts";
import { loadSettings, saveSettings, settingsPath } from "./settings-file.ts";

const root = join(import.meta.dirname, "..");
const app = new App({ outdir: process.env.CDKTF_OUTDIR ?? "cdktf.out" });
new LocalStack(app, "local");
if (process.env.T2S_SKIP_AWS_STACK !== "1") {
  let loaded;
  try {
    loaded = loadSettings(settingsPath(process.env, root), process.env);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    console.error(e.message); // a plain message, no stack trace: the owner fixes the file or the variable
    process.exit(1);
  }
  // Created on the first deploy by `npx cdktf deploy aws`; `npm run deploy` saves it itself, and only
  // once the apply succeeded (so a failed first deploy still shows every setting the next time).
  if (!loaded.saved && process.env.T2S_AWS_SETTINGS_SAVED_BY !== "deploy") saveSettings(loaded.path, loaded.settings);
  new AwsStack(app, "aws", { settings: loaded.settings, build: await buildAws(root) });
}
app.synth();
