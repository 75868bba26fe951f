// The seedbox host's first boot, executed: the user data the launch template carries runs as root at
// first boot in a Debian 12 system container (systemd-nspawn --boot), against moto and the local S3
// store through the metadata stand-in, until the seedbox service logs "seedbox running". A broken
// line in the script fails the boot with its exit status, instead of leaving every job waiting.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { containerPreflight, debianMirror } from "../../scripts/rehearse/container.ts";
import { bootBreakdown, isSeedboxRunning, startBootWorld, type BootWorld } from "../support/boot-world.ts";

describe("seedbox boot in a Debian container", { timeout: 1_800_000 }, () => {
  let world: BootWorld;
  before(async () => {
    // No silent skip: a machine that cannot boot a container fails here, saying what is missing.
    containerPreflight();
    world = await startBootWorld();
  });
  after(async () => {
    await world?.stop();
  });

  it("fails loudly on a broken line in the boot script: the boot reports the exit status, and does not hang", async () => {
    const broken = world.userData.replace(/^phase apt$/m, "phase apt\nt2s-no-such-command --now");
    assert.notEqual(broken, world.userData);
    const { instance } = await world.boot({ userData: broken });
    const t0 = Date.now();
    await assert.rejects(instance.setup, /user data failed \(exit 127\)[\s\S]*t2s-no-such-command: command not found/);
    await assert.rejects(instance.waitFor("seedbox running", isSeedboxRunning, 120_000), /user data failed \(exit 127\)/);
    assert.ok(Date.now() - t0 < 120_000);
    // A hard stop (an instance killed under its jobs): the container's init dies, its overlay goes.
    await instance.stop({ hard: true });
    assert.notEqual(await instance.exited, 0);
    assert.doesNotMatch(readFileSync("/proc/mounts", "utf8"), new RegExp(`t2s-rehearse-${instance.id}-`));
  });

  it("runs the rendered user data once at first boot, as root, until the seedbox is running", async () => {
    const { instance, imds } = await world.boot();
    const running = await instance.waitFor("the seedbox running", isSeedboxRunning, 1_500_000);
    assert.deepEqual(await instance.setup, { exitCode: 0 });
    const b = bootBreakdown(instance, running);
    console.log(`# seedbox boot (container start -> seedbox running): ${b.boot_s} s = os ${b.os_s} s + apt ${b.apt_s} s + pip ${b.pip_s} s + release ${b.release_s} s + service start ${b.service_start_s} s`);
    console.log(`# ${JSON.stringify(b)}`);
    for (const v of Object.values(b)) assert.ok(Number.isFinite(v) && v >= 0, JSON.stringify(b));
    // Its id in leases is the instance id, and its credentials came from the role (IMDSv2 only).
    assert.match(running.msg, new RegExp(`"seedbox":"${instance.id}"`));
    const asked = new Set(imds.requests.filter((r) => r.status === 200).map((r) => r.path));
    for (const p of ["/latest/api/token", "/latest/meta-data/instance-id", "/latest/meta-data/iam/security-credentials/"]) assert.ok(asked.has(p), `nobody asked the metadata service for ${p}`);
    assert.ok(!imds.requests.some((r) => r.status === 401), "a metadata request came without a token");
    // Beyond the stand-ins it fetched from Debian's archive and PyPI only (nothing else is reachable).
    const hosts = [...new Set(instance.egress.map((e) => `${e.host}${e.allowed ? "" : " (refused)"}`))].sort();
    console.log(`# egress: ${hosts.join(", ")}`);
    assert.deepEqual(instance.egress.filter((e) => !e.allowed), []);
    assert.ok(hosts.includes("pypi.org") && hosts.includes(new URL(debianMirror()).hostname), hosts.join(", "));
    await instance.stop();
    assert.equal(await instance.exited, 0, "the container powers off cleanly");
  });
});
