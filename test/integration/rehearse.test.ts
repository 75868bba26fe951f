// `npm run rehearse`, as CI runs it: AWS mode as deployed (the stack applied by terraform to moto, the
// Lambdas from their zips under their own roles, CloudFront from the applied distribution, the fleet as
// Debian containers booting the launch template's user data), driven from a fleet at zero to links
// (downloads through CloudFront signed URLs) and back to zero. Its canaries show that its checks fail on a
// broken world: a route taken from the distribution, a grant taken from a role. (A broken line in the
// boot script: seedbox-boot.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { containerPreflight } from "../../scripts/rehearse/container.ts";
import { rehearse } from "../../scripts/rehearse/run.ts";
import { terraformPreflight } from "../support/preflight.ts";

describe("the AWS rehearsal", { timeout: 2_400_000 }, () => {
  it("runs AWS mode as deployed from a fleet at zero to the links and back to zero, within least privilege", async () => {
    // No silent skip: a machine that cannot rehearse fails here, saying what is missing.
    terraformPreflight("the rehearsal", { moto: true });
    containerPreflight();
    const lines: string[] = [];
    const summary = await rehearse({ log: (l) => (lines.push(l), console.log(`# ${l.slice(0, 400)}`)), signal: AbortSignal.timeout(2_300_000) });
    console.log(`# ${JSON.stringify(summary)}`);
    assert.deepEqual(summary.failures, [], lines.slice(-40).join("\n"));
    assert.equal(summary.jobs_completed, 5);
    assert.ok(Number.isFinite(summary.spot_handed_back_s), "a spot notice handed the job back");
    assert.ok(Number.isFinite(summary.recovered_after_kill_s), "the killed job recovered");
    assert.equal(summary.back_to_zero, true);
    assert.equal(summary.iam_enforced, true);
    assert.ok(summary.iam_calls > 20, `only ${summary.iam_calls} distinct calls recorded`);
    assert.deepEqual(summary.canaries, { route_removed: true, grant_removed: true });
    // Sonarr's and Radarr's way in: the npm qBittorrent client through the distribution, unsigned; the
    // public function URL answers nothing else.
    assert.deepEqual(summary.qbittorrent_api, { login: true, add: true, info: true, properties: true, delete: true, rest_refused: true, strangers_refused: true });
    // With a downloads key: a /d/ and a /zip/ link through the stand-in's check of CloudFront signed URLs.
    assert.equal(summary.cancelled_unheld, true);
    assert.deepEqual(summary.signed_downloads, { full: true, range: true, tampered_403: true, expired_403: true, zip: true, csp_self: true });
    for (const v of [summary.boot_s, summary.first_byte_from_zero_s]) assert.ok(Number.isFinite(v) && v! > 0, JSON.stringify(summary));
    // Beyond its stand-ins an instance fetched from Debian's archive and PyPI only, and asked the
    // metadata service with an IMDSv2 token every time.
    assert.deepEqual(summary.egress.filter((h) => h.endsWith("(refused)")), []);
    assert.ok(summary.egress.includes("pypi.org"), summary.egress.join(", "));
    assert.equal(summary.imds_without_token, 0);
  });
});
