// The CDKTF app: `npm run synth` writes cdktf.out/stacks/<name>/cdk.tf.json.
import { App } from "cdktf";
import { LocalStack } from "./local.ts";

const app = new App({ outdir: process.env.CDKTF_OUTDIR ?? "cdktf.out" });
new LocalStack(app, "local");
app.synth();
