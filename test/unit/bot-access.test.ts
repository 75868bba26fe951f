// The bot's permission check: an allow-list of user ids and role ids; empty lists refuse everyone.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAllowed, refusesEveryone } from "../../bot/access.ts";
import { botConfig } from "../../bot/config.ts";

describe("bot access", () => {
  const lists = { users: ["100", "200"], roles: ["900"] };

  it("allows a listed user whatever their roles", () => {
    assert.equal(isAllowed({ userId: "100", roleIds: [] }, lists), true);
    assert.equal(isAllowed({ userId: "200", roleIds: ["1", "2"] }, lists), true);
  });

  it("allows a member holding a listed role", () => {
    assert.equal(isAllowed({ userId: "300", roleIds: ["1", "900"] }, lists), true);
  });

  it("refuses everyone else", () => {
    assert.equal(isAllowed({ userId: "300", roleIds: [] }, lists), false);
    assert.equal(isAllowed({ userId: "300", roleIds: ["901"] }, lists), false);
    // Ids are compared whole, not as prefixes or numbers.
    assert.equal(isAllowed({ userId: "10", roleIds: ["90"] }, lists), false);
    assert.equal(isAllowed({ userId: "1000", roleIds: [] }, lists), false);
  });

  it("refuses everyone when both lists are empty", () => {
    const none = { users: [], roles: [] };
    assert.equal(refusesEveryone(none), true);
    assert.equal(refusesEveryone(lists), false);
    assert.equal(isAllowed({ userId: "100", roleIds: ["900"] }, none), false);
  });

  it("reads the lists from comma-separated environment variables", () => {
    const base = { DISCORD_TOKEN: "t", DISCORD_APP_ID: "1", T2S_API_URL: "http://127.0.0.1:1/", T2S_API_TOKEN: "x", T2S_UPDATES_BOT_QUEUE_URL: "http://q" };
    const c = botConfig({ ...base, DISCORD_ALLOWED_USERS: " 100, 200 ,,", DISCORD_ALLOWED_ROLES: "900" });
    assert.deepEqual(c.allowedUsers, ["100", "200"]);
    assert.deepEqual(c.allowedRoles, ["900"]);
    assert.equal(c.apiUrl, "http://127.0.0.1:1");
    assert.equal(c.publicUrl, "http://127.0.0.1:1");
    assert.equal(c.discordApiUrl, "https://discord.com/api");
    assert.equal(c.editIntervalMs, 10_000);
    const e = botConfig(base);
    assert.deepEqual([e.allowedUsers, e.allowedRoles], [[], []]);
    assert.throws(() => botConfig({ ...base, DISCORD_TOKEN: "" }), /DISCORD_TOKEN is not set/);
  });
});
