// The deploy settings file (t2s.aws.json): what a redeploy from a fresh shell keeps, what it refuses,
// and what it says before applying.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { awsDefaults, SettingsError, settingsChanges, settingsFileText, settingsFromEnv, settingsFromFile, type AwsSettings } from "../../stacks/aws-settings.ts";
import { loadSettings, saveSettings } from "../../stacks/settings-file.ts";
import { deploy } from "../../scripts/deploy.ts";

const key = "ab".repeat(32);
const dir = mkdtempSync(join(tmpdir(), "t2s-settings-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("deploy settings file", () => {
  it("round trip: what is saved is what the next deploy reads, with no variable set", () => {
    const s: AwsSettings = { ...awsDefaults, name: "media", spot: true, instanceTypes: ["t4g.medium"], discordAllowList: ["123456789012345678"], discordPublicKey: key };
    const path = join(dir, "round.json");
    saveSettings(path, s);
    assert.deepEqual(loadSettings(path, {}).settings, s);
    assert.deepEqual(loadSettings(path, {}).saved, s);
    assert.deepEqual(settingsFromFile(settingsFileText(s)), s);
    // A partial file keeps the defaults for the rest.
    assert.deepEqual(settingsFromFile('{"maxSeedboxes": 5}'), { ...awsDefaults, maxSeedboxes: 5 });
  });

  it("an unknown key stops it with a plain message naming the key and the known ones", () => {
    assert.throws(() => settingsFromFile('{"maxSeedbox": 5}', "t2s.aws.json"), (e: Error) =>
      e instanceof SettingsError && /^t2s\.aws\.json: unknown setting "maxSeedbox"; the settings are name, region, .*maxSeedboxes/.test(e.message));
  });

  it("a bad value stops it: wrong kind, out of range, not JSON", () => {
    const msg = (text: string) => {
      try {
        settingsFromFile(text, "t2s.aws.json");
      } catch (e) {
        assert.ok(e instanceof SettingsError);
        return e.message;
      }
      assert.fail("accepted");
    };
    assert.equal(msg('{"maxSeedboxes": "5"}'), 't2s.aws.json: maxSeedboxes must be a number, not "5"');
    assert.equal(msg('{"spot": "yes"}'), 't2s.aws.json: spot must be a boolean, not "yes"');
    assert.equal(msg('{"instanceTypes": "t4g.small"}'), 't2s.aws.json: instanceTypes must be a list of strings, not "t4g.small"');
    assert.match(msg('{"maxSeedboxes": 0}'), /^t2s\.aws\.json: max seedboxes 0 must be a whole number from 1 to 100$/);
    assert.match(msg('{"discordPublicKey": "xyz"}'), /^t2s\.aws\.json: the Discord public key must be the 64 hex characters/);
    assert.match(msg("{nope"), /^t2s\.aws\.json: not valid JSON/);
    assert.equal(msg("[]"), "t2s.aws.json: must hold one JSON object of settings");
  });

  it("the environment overrides the file, and an unset variable keeps the file's value", () => {
    const path = join(dir, "env.json");
    saveSettings(path, { ...awsDefaults, discordPublicKey: key, maxSeedboxes: 2 });
    const l = loadSettings(path, { T2S_AWS_MAX_SEEDBOXES: "6", T2S_AWS_SPOT: "on" });
    assert.equal(l.settings.maxSeedboxes, 6);
    assert.equal(l.settings.spot, true);
    // The bug this fixes: a fresh shell without T2S_AWS_DISCORD_PUBLIC_KEY kept the bot.
    assert.equal(l.settings.discordPublicKey, key);
    assert.equal(loadSettings(path, { T2S_AWS_SPOT: "" }).settings.spot, false);
  });

  it("deploy prints what changed before applying, and saves only after a successful deploy", () => {
    const path = join(dir, "deploy.json");
    const env = { T2S_AWS_SETTINGS: path, T2S_AWS_DISCORD_PUBLIC_KEY: key };
    let lines: string[] = [];
    const seen: string[][] = [];
    const run = (code: number) => (args: string[]) => {
      seen.push(args);
      // Printed before cdktf runs.
      assert.ok(lines.length > 0);
      return code;
    };
    // First deploy: every setting listed, the file created.
    assert.equal(deploy(["--auto-approve"], { env, root: dir, run: run(0), print: (l) => lines.push(l) }), 0);
    assert.deepEqual(seen, [["--auto-approve"]]);
    assert.match(lines[0]!, /first deploy; .*deploy\.json will keep these settings:/);
    assert.ok(lines.includes(`  discordPublicKey: "${key}"`));
    assert.equal(JSON.parse(readFileSync(path, "utf8")).discordPublicKey, key);

    // A fresh shell, nothing set: nothing changes.
    lines = [];
    assert.equal(deploy([], { env: { T2S_AWS_SETTINGS: path }, root: dir, run: run(0), print: (l) => lines.push(l) }), 0);
    assert.deepEqual(lines, [`t2s deploy: no setting changed since the last deploy (${path})`]);

    // A change that fails to apply is shown again next time.
    lines = [];
    assert.equal(deploy([], { env: { T2S_AWS_SETTINGS: path, T2S_AWS_MAX_SEEDBOXES: "7" }, root: dir, run: run(1), print: (l) => lines.push(l) }), 1);
    assert.deepEqual(lines.slice(1), ["  maxSeedboxes: 3 -> 7", "t2s deploy: not saved (cdktf exited with 1); the next deploy shows the same changes"]);
    assert.equal(JSON.parse(readFileSync(path, "utf8")).maxSeedboxes, 3);
    lines = [];
    assert.equal(deploy([], { env: { T2S_AWS_SETTINGS: path, T2S_AWS_MAX_SEEDBOXES: "7" }, root: dir, run: run(0), print: (l) => lines.push(l) }), 0);
    assert.deepEqual(lines, [`t2s deploy: changed since the last deploy (${path}):`, "  maxSeedboxes: 3 -> 7"]);
    assert.equal(JSON.parse(readFileSync(path, "utf8")).maxSeedboxes, 7);

    // A bad file never reaches cdktf.
    writeFileSync(path, '{"color": "blue"}');
    lines = [];
    assert.equal(deploy([], { env: { T2S_AWS_SETTINGS: path }, root: dir, run: () => assert.fail("cdktf ran"), print: (l) => lines.push(l) }), 1);
    assert.match(lines[0]!, /unknown setting "color"/);
  });

  it("the synth (cdktf's app command) refuses a bad file with a plain message and a non-zero exit", () => {
    const path = join(dir, "synth.json");
    writeFileSync(path, '{"arch": "sparc"}');
    const r = spawnSync(process.execPath, [join(import.meta.dirname, "../../stacks/main.ts")], {
      env: { ...process.env, T2S_AWS_SETTINGS: path, CDKTF_OUTDIR: join(dir, "out") }, encoding: "utf8",
    });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `${path}: arch "sparc" is unknown; use "arm64" (t4g) or "x86_64"`);
    assert.equal(existsSync(join(dir, "out", "stacks", "aws")), false);
  });

  it("takes local mode's DISCORD_ALLOWED_USERS and DISCORD_ALLOWED_ROLES as the allow-list; T2S_AWS_DISCORD_ALLOW wins", () => {
    assert.deepEqual(settingsFromEnv({ DISCORD_ALLOWED_USERS: "111111111111111111", DISCORD_ALLOWED_ROLES: "222222222222222222,111111111111111111" }).discordAllowList, ["111111111111111111", "222222222222222222"]);
    assert.deepEqual(settingsFromEnv({ DISCORD_ALLOWED_ROLES: "222222222222222222", T2S_AWS_DISCORD_ALLOW: "333333333333333333" }).discordAllowList, ["333333333333333333"]);
    assert.deepEqual(settingsFromEnv({}, { ...awsDefaults, discordAllowList: ["444444444444444444"] }).discordAllowList, ["444444444444444444"]);
  });

  it("settingsChanges lists only what differs", () => {
    assert.deepEqual(settingsChanges(awsDefaults, awsDefaults), []);
    assert.deepEqual(settingsChanges(awsDefaults, { ...awsDefaults, discordAllowList: ["123456789012"] }), ['  discordAllowList: [] -> ["123456789012"]']);
  });
});
