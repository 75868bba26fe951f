// The rehearsal's Sonarr/Radarr leg: the npm qBittorrent client (@ctrl/qbittorrent), unmodified, talks to
// the distribution with URL base /qbittorrent, as Sonarr does (host = the distribution, user t2s, password =
// the API token). Through the CloudFront stand-in its requests reach the public qBittorrent function
// (URL auth NONE, no OAC) unsigned, its body and cookie as sent. The same function URL, called straight,
// must refuse the rest of the API (404), and a caller without the SID cookie or the token gets 403.
import { randomBytes } from "node:crypto";
import { QBittorrent } from "@ctrl/qbittorrent";
import type { MadeTorrent } from "../../test/support/torrents.ts";

/** Each step's outcome, as the rehearsal's summary records it. */
export interface QbittorrentApiResult {
  login: boolean;
  add: boolean;
  info: boolean;
  /** torrents/properties with qBittorrent's field types, and torrents/files listing the .torrent's files. */
  properties: boolean;
  delete: boolean;
  /** The public function URL, called straight, answers 404 to the rest of the API (the token in hand). */
  rest_refused: boolean;
  /** Without the SID cookie or the token, a call through the distribution is qBittorrent's 403; a wrong password is refused. */
  strangers_refused: boolean;
}

export const noQbittorrentApi: QbittorrentApiResult = { login: false, add: false, info: false, properties: false, delete: false, rest_refused: false, strangers_refused: false };

/** qBittorrent's field types in torrents/info (WebUI API 2.8), a sample of those Sonarr and Radarr read. */
const infoFields: Record<string, "string" | "number" | "boolean"> = {
  hash: "string", name: "string", size: "number", progress: "number", dlspeed: "number", eta: "number", state: "string", category: "string",
  tags: "string", save_path: "string", content_path: "string", added_on: "number", completion_on: "number", ratio: "number", ratio_limit: "number",
  seeding_time_limit: "number", amount_left: "number", auto_tmm: "boolean",
};
const propertiesFields: Record<string, "string" | "number"> = {
  save_path: "string", creation_date: "number", piece_size: "number", total_size: "number", addition_date: "number", completion_date: "number", seeding_time: "number", eta: "number",
};

/** The names of the fields of `row` that are missing or not of qBittorrent's type. */
const wrongTypes = (row: Record<string, unknown>, fields: Record<string, string>) =>
  Object.entries(fields).filter(([k, t]) => typeof row[k] !== t).map(([k, t]) => `${k} (${typeof row[k]}, not ${t})`);

export async function qbittorrentLeg(o: {
  /** The distribution's URL (here the CloudFront stand-in's). */
  front: string;
  /** Where the public qBittorrent function's URL is served (the Lambda runner's loopback server). */
  functionUrl: string;
  apiToken: string;
  /** A .torrent to add as a multipart upload, besides a magnet. */
  torrent: MadeTorrent;
  log: (line: string) => void;
  fail: (what: string) => void;
}): Promise<QbittorrentApiResult> {
  const r = { ...noQbittorrentApi };
  const category = `tv-rh-${randomBytes(3).toString("hex")}`;
  const magnetHash = randomBytes(20).toString("hex");
  const client = new QBittorrent({ baseUrl: `${o.front}/qbittorrent/`, username: "t2s", password: o.apiToken });
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (err) {
      o.fail(`qBittorrent API through CloudFront: ${what}: ${(err as Error).message}`);
      return undefined;
    }
  };

  // Strangers: no cookie and no token is qBittorrent's 403; a wrong password gets no cookie.
  const bare = await fetch(`${o.front}/qbittorrent/api/v2/torrents/info`);
  const wrong = await new QBittorrent({ baseUrl: `${o.front}/qbittorrent/`, username: "t2s", password: "not-the-token" }).login().then(() => true, () => false);
  r.strangers_refused = bare.status === 403 && (await bare.text()) === "Forbidden" && !wrong;
  if (!r.strangers_refused) o.fail(`qBittorrent API through CloudFront: a stranger got HTTP ${bare.status} on torrents/info${wrong ? ", and a wrong password logged in" : ""}`);

  r.login = (await step("login", () => client.login())) === true;
  if (!r.login) return r;
  const magnet = `magnet:?xt=urn:btih:${magnetHash}&dn=rehearsal-qbittorrent`;
  const addedMagnet = await step("add a magnet", () => client.addMagnet(magnet, { category }));
  // The .torrent goes as multipart/form-data, a body CloudFront passes unsigned.
  const addedFile = await step("add a .torrent", () => client.addTorrent(new Uint8Array(o.torrent.torrent), { category }));
  r.add = addedMagnet === true && addedFile === true;
  if (!r.add) o.fail(`qBittorrent API through CloudFront: torrents/add answered ${addedMagnet} for the magnet, ${addedFile} for the .torrent`);
  const hashes = [magnetHash, o.torrent.infoHash];

  const listed = await step("torrents/info", () => client.listTorrents({ category })) as unknown as Record<string, unknown>[] | undefined;
  if (listed) {
    const got = listed.map((x) => x.hash).sort();
    const bad = listed.flatMap((x) => wrongTypes(x, infoFields).map((f) => `${String(x.hash)}: ${f}`));
    r.info = JSON.stringify(got) === JSON.stringify([...hashes].sort()) && bad.length === 0 && listed.every((x) => x.category === category);
    if (!r.info) o.fail(`qBittorrent API through CloudFront: torrents/info for ${category} listed ${JSON.stringify(got)}${bad.length ? `; wrong fields: ${bad.join(", ")}` : ""}`);
  }
  const props = await step("torrents/properties", () => client.torrentProperties(o.torrent.infoHash)) as unknown as Record<string, unknown> | undefined;
  // torrents/files of a .torrent's job: every file of the torrent (the function reads the stored .torrent).
  const files = await step("torrents/files", () => client.torrentFiles(o.torrent.infoHash));
  if (props && files) {
    const bad = wrongTypes(props, propertiesFields);
    const sizes = JSON.stringify(files.map((f) => f.size)) === JSON.stringify(o.torrent.files.map((f) => f.size));
    r.properties = bad.length === 0 && props.total_size === o.torrent.files.reduce((n, f) => n + f.size, 0) && sizes;
    if (!r.properties) o.fail(`qBittorrent API through CloudFront: torrents/properties gave total_size ${String(props.total_size)}${bad.length ? `; wrong fields: ${bad.join(", ")}` : ""}; torrents/files ${JSON.stringify(files.map((f) => [f.name, f.size]))}`);
  }

  const removed = await step("torrents/delete", () => client.removeTorrent(hashes, true));
  const after = removed ? await step("torrents/info after the delete", () => client.listTorrents({ category })) : undefined;
  r.delete = removed === true && after !== undefined && after.length === 0;
  if (removed && after && !r.delete) o.fail(`qBittorrent API through CloudFront: after torrents/delete, ${after.length} still listed`);

  // The function URL itself (auth NONE): the rest of the API is not there, whatever the caller holds.
  const base = o.functionUrl.replace(/\/$/, "");
  const token = { authorization: `Bearer ${o.apiToken}` };
  const rest = await Promise.all([
    fetch(`${base}/api/jobs`, { method: "POST", headers: { ...token, "content-type": "application/json" }, body: JSON.stringify({ magnet }) }),
    fetch(`${base}/api/jobs`, { headers: token }),
    fetch(`${base}/api/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: o.apiToken }) }),
    fetch(`${base}/healthz`),
    fetch(`${base}/`),
  ]);
  const statuses = rest.map((x) => x.status);
  await Promise.all(rest.map((x) => x.arrayBuffer()));
  r.rest_refused = statuses.every((s) => s === 404);
  if (!r.rest_refused) o.fail(`the public qBittorrent function URL answered ${statuses.join(", ")} to POST /api/jobs, GET /api/jobs, POST /api/session, /healthz and /, not 404`);
  o.log(`qBittorrent API (npm @ctrl/qbittorrent through CloudFront): ${JSON.stringify(r)}`);
  return r;
}
