// The configuration tables against the code that reads the variables, so the two cannot drift:
// docs/configuration.md and docs/aws.md "Settings" (t2s.aws.json). A variable the code reads but no doc names,
// a documented one nothing reads, or a settings row whose variable sets another key, fails here.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { awsDefaults, settingsFromEnv, type AwsSettings } from "../../stacks/aws-settings.ts";

const root = join(import.meta.dirname, "..", "..");
const read = (rel: string) => readFileSync(join(root, rel), "utf8");
const codeDirs = ["ingest", "seedbox", "lib", "bot", "cli", "scripts", "stacks", "deploy", "bin"];
const codeFile = /\.(ts|js|sh|py|service)$/;
/** Names that look like variables but are not read from the environment. */
const notVariables = new Set(["T2S_EOF"]); // user-data.ts's heredoc marker

function files(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && codeFile.test(e.name)).map((e) => join(e.parentPath, e.name));
}
const codeNames = new Set(codeDirs.flatMap(files).flatMap((f) => [...readFileSync(f, "utf8").matchAll(/\bT2S_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]))
  .filter((n) => !notVariables.has(n)));
const docs = [read("README.md"), ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => read(join("docs", f)))].join("\n");
/** Every `T2S_...` named in backticks in the docs; `*` stands for any part of a name. */
const named = (text: string) => new Set([...text.matchAll(/`[^`\n]*`/g)].flatMap((m) => [...m[0].matchAll(/T2S_[A-Z0-9_*]*[A-Z0-9*]/g)].map((x) => x[0])));
const matches = (pattern: string, name: string) => new RegExp(`^${pattern.replaceAll("*", "[A-Z0-9_]+")}$`).test(name);
/** The table rows of one section of a Markdown file. */
function section(text: string, heading: string): string[] {
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no section ${heading}`);
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(/\n#{1,2} /);
  return (end < 0 ? rest : rest.slice(0, end)).split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("|---"));
}

describe("configuration docs match the config readers", () => {
  it("documents every T2S_ variable the code reads", () => {
    const documented = [...named(docs)];
    const missing = [...codeNames].filter((n) => !documented.some((d) => matches(d, n))).sort();
    assert.deepEqual(missing, [], `read by the code but in no doc: ${missing.join(" ")}`);
  });

  it("lists no variable in the configuration tables that nothing reads", () => {
    const tables = [...section(read("docs/configuration.md"), "## Configuration"), ...section(read("docs/aws.md"), "## Settings: `t2s.aws.json`")].join("\n");
    const stale = [...named(tables)].filter((d) => ![...codeNames].some((n) => matches(d, n))).sort();
    assert.deepEqual(stale, [], `documented but read nowhere: ${stale.join(" ")}`);
  });

  it("docs/aws.md has one row per setting, in order, each with the terraform variable and the env variable that sets it", () => {
    const rows = section(read("docs/aws.md"), "## Settings: `t2s.aws.json`").slice(1).map((l) => l.split("|").map((c) => c.trim()));
    assert.deepEqual(rows.map((r) => r[1]!.replaceAll("`", "")), Object.keys(awsDefaults));
    const variables = [...read("stacks/aws.ts").matchAll(/new TerraformVariable\(this, "([a-z_]+)"/g)].map((m) => m[1]).sort();
    // A setting read at synth has no variable ("—").
    assert.deepEqual(rows.map((r) => r[2]!.replaceAll("`", "")).filter((v) => !v.startsWith("—")).sort(), variables);
    // A valid value that differs from the default, for each setting.
    const sample: Record<keyof AwsSettings, string> = {
      name: "media", region: "eu-west-1", arch: "x86_64", instanceType: "t3.large", instanceTypes: "t3.large", volumeGiB: "60", maxSeedboxes: "5",
      idleMinutes: "20", maxTorrents: "6", spot: "on", retentionDays: "9", discordAllowList: "123456789012", discordPublicKey: "ab".repeat(32),
      downloadsPublicKey: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n", monthlyBudgetUsd: "25", alarmEmail: "owner@example.com", logRetentionDays: "14", qbittorrentConcurrency: "-1", keepData: "0",
    };
    for (const r of rows) {
      const key = r[1]!.replaceAll("`", "") as keyof AwsSettings;
      const env = /`(T2S_AWS_[A-Z_]+)`/.exec(r[3]!)?.[1];
      assert.ok(env, `${key}: no T2S_AWS_ variable in its row`);
      const got = settingsFromEnv({ [env]: sample[key] });
      assert.notDeepEqual(got[key], awsDefaults[key], `${env} does not set ${key}`);
      assert.deepEqual({ ...got, [key]: awsDefaults[key] }, awsDefaults, `${env} sets more than ${key}`);
    }
  });
});
