// The seedbox host's boot as the rehearsal runs it: an instance's network namespace, and a broken line
// in the user data failing the boot with its exit status instead of leaving every job waiting. The
// whole boot, from the applied launch template to a running seedbox taking jobs, is the rehearsal's
// (rehearse.test.ts).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { containerPreflight, debianMirror } from "../../scripts/rehearse/container.ts";
import { egressPort, instanceNetwork } from "../../scripts/rehearse/network.ts";
import { debianRelease } from "../../stacks/seedbox-fleet.ts";
import { isSeedboxRunning } from "../../scripts/rehearse/fleet.ts";
import { startBootWorld, type BootWorld } from "../support/boot-world.ts";

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
});
