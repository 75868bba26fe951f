// The seedbox host's first boot, executed: the user data the launch template carries runs as root at
// first boot in a Debian 12 system container (systemd-nspawn --boot), against moto and the local S3
// store through the metadata stand-in, until the seedbox service logs "seedbox running". A broken
// line in the script fails the boot with its exit status, instead of leaving every job waiting.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { containerPreflight, debianMirror } from "../../scripts/rehearse/container.ts";
import { egressPort, instanceNetwork } from "../../scripts/rehearse/network.ts";
import { debianRelease } from "../../stacks/seedbox-fleet.ts";
import { bootBreakdown, isSeedboxRunning, startBootWorld, type BootWorld } from "../support/boot-world.ts";

describe("a rehearsed instance's network namespace", () => {
  it("reaches the forwarded loopback ports, the allowed hosts through the proxy, and nothing else", async () => {
    containerPreflight();
    const standIn = createServer((_req, res) => res.end("stand-in"));
    await new Promise<void>((resolve) => standIn.listen(0, "127.0.0.1", resolve));
    const port = (standIn.address() as AddressInfo).port;
    const mirror = new URL(debianMirror());
    const net = await instanceNetwork({ name: "t2s-net-test", forward: [port], allowHosts: [mirror.hostname] });
    // Asynchronous: the stand-in and the host's end of the forwarding live in this process.
    const curl = (...args: string[]) => new Promise<{ code: number; out: string }>((resolve) => {
      execFile("ip", ["netns", "exec", net.nsPath.split("/").pop()!, "curl", "-sS", "--max-time", "20", ...args], (err, out) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, out }));
    });
    try {
      assert.equal((await curl(`http://127.0.0.1:${port}/`)).out, "stand-in");
      const proxy = `http://127.0.0.1:${egressPort}`;
      assert.equal((await curl("-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, "http://pypi.org/simple/")).out, "403");
      assert.equal((await curl("-o", "/dev/null", "-w", "%{http_code}", "-I", "-x", proxy, new URL(`dists/${debianRelease.codename}/Release`, mirror.href.replace(/\/?$/, "/")).href)).out, "200");
      // No route out of the namespace (192.0.2.1 is a documentation address: nothing is sent).
      assert.equal((await curl("http://192.0.2.1/")).code, 7);
      assert.deepEqual(net.egress, [{ host: "pypi.org", allowed: false }, { host: mirror.hostname, allowed: true }]);
    } finally {
      await net.close();
      standIn.close();
    }
  });
});

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
