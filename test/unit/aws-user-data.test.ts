// The seedbox host's user data: valid bash, the four units with restart policies, Deluge bound to
// loopback, and the passwords generated on the host.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../scripts/local/paths.ts";
import { installTuning, tuningFile, tuningPlugin, tuningSettings } from "../../seedbox/deluge-tuning.ts";
import { deployDir, renderUserData } from "../../stacks/user-data.ts";

const values = {
  region: "eu-west-1",
  bucket: "t2s-abc123",
  releaseKey: "releases/0123ABCD.tar.gz",
  serviceEnv: { AWS_REGION: "eu-west-1", T2S_BUCKET: "t2s-abc123", T2S_API_TOKEN_PARAM: "/t2s/api-token", T2S_DISCORD_TOKEN_PARAM: "/t2s/discord-token" },
};

/** The file a heredoc in the script writes to `target`. */
function embedded(script: string, target: string): string {
  const m = new RegExp(`cat > ${target.replaceAll(".", "\\.")} <<'T2S_EOF'\\n([\\s\\S]*?)\\nT2S_EOF`).exec(script);
  assert.ok(m, `${target} is not written by the user data`);
  return m[1]!;
}

describe("seedbox user data", () => {
  let dir: string;
  let script: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-userdata-"));
    script = renderUserData(values, { forTerraform: false });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("passes bash -n, as do the embedded scripts", async () => {
    const file = join(dir, "user-data.sh");
    await writeFile(file, script);
    execFileSync("bash", ["-n", file]);
    for (const f of ["deluge-init.sh", "ssm-env.sh"]) execFileSync("bash", ["-n", join(deployDir, f)]);
    assert.ok(Buffer.byteLength(script) < 16 * 1024, `user data is ${Buffer.byteLength(script)} bytes; EC2 allows 16 KiB`);
  });

  it("fills every placeholder", () => {
    assert.doesNotMatch(script, /@[A-Z_]+@/);
    assert.match(script, /^REGION='eu-west-1'$/m);
    assert.match(script, /^RELEASE_KEY='releases\/0123ABCD\.tar\.gz'$/m);
    // Each fleet instance has its own data volume from the launch template, found as the EBS disk that is not root.
    assert.doesNotMatch(script, /DATA_VOLUME_ID|vol-/);
    assert.match(script, /^\s*ROOT_DISK=\$\(lsblk -npo PKNAME "\$\(findmnt -nvo SOURCE \/\)"\)$/m);
    assert.match(script, /\$1 != root && \/Amazon Elastic Block Store\//);
    assert.match(embedded(script, "/etc/t2s/t2s.env"), /^T2S_BUCKET=t2s-abc123$/m);
  });

  it("installs Deluge 2.2 with the libtorrent binding and the AWS CLI from PyPI, and the release (Node inside) from S3", () => {
    // The same pins as local mode's venv (scripts/bootstrap.sh), so both run the same Deluge.
    const bootstrap = readFileSync(join(repoRoot, "scripts", "bootstrap.sh"), "utf8");
    const local = /^deluge_reqs=\((.*)\)$/m.exec(bootstrap)?.[1];
    assert.ok(local, "bootstrap.sh pins Deluge in deluge_reqs=(...)");
    const host = /\/opt\/deluge\/bin\/pip install -q --disable-pip-version-check (.*)$/m.exec(script)?.[1];
    assert.equal(host, local);
    assert.match(local, /deluge==2\.2\.0 libtorrent==2\.1\.1/);
    const awscli = /^\s*awscli_version=(\S+)$/m.exec(bootstrap)?.[1];
    assert.match(script, new RegExp(`/opt/awscli/bin/pip install -q --disable-pip-version-check awscli==${awscli}( &)?$`, "m"));
    assert.match(script, /aws s3 cp [^\n]*"s3:\/\/\$BUCKET\/\$RELEASE_KEY"/);
    // Only Debian's archive, PyPI and the bucket: no nodejs.org, no AWS CLI site, no npm.
    assert.doesNotMatch(script, /nodejs\.org|awscli\.amazonaws\.com|\bnpm\b/);
    for (const unit of ["t2s-seedbox", "t2s-bot"]) {
      assert.match(embedded(script, `/etc/systemd/system/${unit}.service`), new RegExp(`^ExecStart=/opt/t2s/release/node/bin/node app/${unit.slice(4)}\\.mjs$`, "m"));
    }
  });

  it("logs each phase, and takes the metadata service's address from T2S_IMDS_URL", () => {
    for (const p of ["start", "apt", "pip", "release", "services", "done"]) assert.match(script, new RegExp(`^phase ${p}$`, "m"));
    assert.match(script, /^set -euo pipefail$/m);
    assert.match(script, /^IMDS=\$\{T2S_IMDS_URL:-http:\/\/169\.254\.169\.254\}$/m);
    assert.doesNotMatch(script.replace(/^IMDS=.*$/m, ""), /169\.254\.169\.254/);
  });

  it("writes the four units, each restarting on failure, and enables all but the bot (a Lambda in AWS mode)", () => {
    for (const unit of ["t2s-deluged", "t2s-deluge-web", "t2s-seedbox", "t2s-bot"]) {
      const body = embedded(script, `/etc/systemd/system/${unit}.service`);
      assert.match(body, /^Restart=(always|on-failure)$/m, unit);
      assert.match(body, /^RestartSec=\d+$/m, unit);
      assert.match(body, /^User=t2s$/m, unit);
      if (unit !== "t2s-bot") assert.match(script, new RegExp(`systemctl enable --now [^\\n]*${unit}\\.service`), unit);
    }
    assert.doesNotMatch(script, /systemctl enable --now [^\n]*t2s-bot\.service/);
  });

  it("binds deluged's RPC and deluge-web to 127.0.0.1 only", () => {
    const daemon = embedded(script, "/etc/systemd/system/t2s-deluged.service");
    assert.match(daemon, /^ExecStart=\S*deluged -d [^\n]*-u 127\.0\.0\.1/m);
    const web = embedded(script, "/etc/systemd/system/t2s-deluge-web.service");
    assert.match(web, /^ExecStart=\S*deluge-web -d [^\n]*-i 127\.0\.0\.1/m);
    const init = embedded(script, "/usr/local/lib/t2s/deluge-init.sh");
    assert.match(init, /"interface": "127\.0\.0\.1"/);
    assert.match(init, /"allow_remote": false/);
  });

  it("generates the Deluge passwords on the host at first boot, readable only there", () => {
    const init = embedded(script, "/usr/local/lib/t2s/deluge-init.sh");
    assert.match(init, /\[ -s "\$SECRETS" \] && exit 0/, "passwords must be made once, not at every boot");
    assert.match(init, /^LOCALCLIENT=\$\(openssl rand -hex \d+\)$/m);
    assert.match(init, /^WEB_PASSWORD=\$\(openssl rand -hex \d+\)$/m);
    assert.match(init, /umask 077/);
    assert.match(init, /chmod 0640 "\$SECRETS\.tmp"/);
    const seedbox = embedded(script, "/etc/systemd/system/t2s-seedbox.service");
    assert.match(seedbox, /^EnvironmentFile=\/etc\/t2s\/deluge\.env$/m);
    assert.doesNotMatch(script, /^\s*aws (ssm put-parameter|s3 cp [^\n]*deluge)/m, "a Deluge password leaves the host");
  });

  it("makes deluge-init.sh write a working web password hash", async () => {
    // Run the init script against a temp folder (paths rewritten; chown to the current user).
    const conf = join(dir, "deluge");
    execFileSync("mkdir", ["-p", conf]);
    const me = execFileSync("id", ["-un"]).toString().trim();
    const src = embedded(script, "/usr/local/lib/t2s/deluge-init.sh")
      .replaceAll("/var/lib/t2s/deluge", conf).replaceAll("/etc/t2s/deluge.env", join(dir, "deluge.env")).replaceAll("t2s:t2s", `${me}:`).replaceAll("root:t2s", `${me}:`)
      .replaceAll("/opt/t2s/release/deluge", join(dir, "release-deluge"));
    // What scripts/build-release.ts ships in the release's deluge/ folder.
    await installTuning(join(dir, "release-deluge"));
    await writeFile(join(dir, "init.sh"), src);
    execFileSync("bash", [join(dir, "init.sh")]);
    const env = execFileSync("cat", [join(dir, "deluge.env")]).toString();
    const password = /^T2S_DELUGE_PASSWORD=([0-9a-f]{48})$/m.exec(env)?.[1];
    assert.ok(password, env);
    const web = execFileSync("cat", [join(conf, "web.conf")]).toString();
    const cfg = JSON.parse(web.slice(web.indexOf("}{") + 1)) as { pwd_salt: string; pwd_sha1: string; interface: string };
    const { createHash } = await import("node:crypto");
    assert.equal(cfg.pwd_sha1, createHash("sha1").update(cfg.pwd_salt + password).digest("hex"));
    assert.equal(cfg.interface, "127.0.0.1");
    // libtorrent's tuning: the plugin Deluge enables, with the seedbox's table.
    const core = execFileSync("cat", [join(conf, "core.conf")]).toString();
    assert.deepEqual(JSON.parse(core.slice(core.indexOf("}{") + 1)).enabled_plugins, [tuningPlugin]);
    assert.deepEqual(JSON.parse(execFileSync("cat", [join(conf, tuningFile)]).toString()), tuningSettings());
    assert.ok(existsSync(join(conf, "plugins", "T2sTuning-1.0.egg", "EGG-INFO", "entry_points.txt")));
    // A second boot keeps the same password.
    execFileSync("bash", [join(dir, "init.sh")]);
    assert.equal(execFileSync("cat", [join(dir, "deluge.env")]).toString(), env);
  });

  it("escapes the shell's own ${...} for terraform, and only those", () => {
    const tf = renderUserData({ ...values, bucket: "${aws_s3_bucket.b.bucket}" }, { forTerraform: true });
    assert.match(tf, /BUCKET='\$\{aws_s3_bucket\.b\.bucket\}'/);
    assert.match(tf, /DISCORD_TOKEN=\$\$\{T2S_DISCORD_TOKEN_PARAM\}/);
    assert.match(tf, /VAR=\$\$\{pair%%=\*\}/);
  });
});
