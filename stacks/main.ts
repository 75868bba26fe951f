// The CDKTF app: `npm run synth` writes cdktf.out/stacks/<name>/cdk.tf.json.
// "local" is local mode; "aws" is AWS mode (`npx cdktf deploy aws`), whose Lambda bundle and app
// release are built first (T2S_AWS_* variables set its synth-time settings).
import { join } from "node:path";
import { App } from "cdktf";
import { buildAws } from "../scripts/build-lambda.ts";
import { settingsFromEnv } from "./aws-settings.ts";
import { AwsStack } from "./aws.ts";
import { LocalStack } from "./local.ts";

const app = new App({ outdir: process.env.CDKTF_OUTDIR ?? "cdktf.out" });
new LocalStack(app, "local");
if (process.env.T2S_SKIP_AWS_STACK !== "1") {
  const settings = settingsFromEnv(process.env);
  new AwsStack(app, "aws", { settings, build: await buildAws(join(import.meta.dirname, "..")) });
}
app.synth();
