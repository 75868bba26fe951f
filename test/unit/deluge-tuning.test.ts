// The libtorrent settings the seedbox applies are the ones docs/design.md states (its "Line rate" table),
// key for key and value for value, and each has a reason.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../../scripts/local/paths.ts";
import { libtorrentTuning, tuningSettings } from "../../seedbox/deluge-tuning.ts";

/** The rows `| \`key\` | \`value\` | why |` of docs/design.md's table under "## Line rate". */
function readmeSettings(): Record<string, unknown> {
  const readme = readFileSync(join(repoRoot, "docs", "design.md"), "utf8");
  const start = readme.indexOf("\n## Line rate");
  assert.ok(start >= 0, 'docs/design.md has no "## Line rate" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows = [...section.matchAll(/^\| `([a-z_]+)` \| `([^`]+)` \|/gm)];
  return Object.fromEntries(rows.map((m) => [m[1], JSON.parse(m[2]!)]));
}

describe("libtorrent tuning", () => {
  it("applies exactly the settings docs/design.md states", () => {
    assert.deepEqual(readmeSettings(), tuningSettings());
  });

  it("gives every setting a reason, and names each once", () => {
    for (const s of libtorrentTuning) assert.ok(s.why.length > 10, s.key);
    assert.equal(new Set(libtorrentTuning.map((s) => s.key)).size, libtorrentTuning.length);
  });
});
