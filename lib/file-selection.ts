// Which of a torrent's files a job fetches. A selection lists file indexes (the torrent's own file order,
// which is Deluge's and qBittorrent's file index) and globs; absent (null) means every file. Pure: ingest
// checks it against a .torrent it is given, the seedbox resolves it once a magnet's metadata is in.
import { posix } from "node:path";
import { AppError } from "./errors.ts";

export type FileSelection = (number | string)[];

export const maxSelectionEntries = 1000;
export const maxGlobLength = 1024;
// A torrent lists at most this many files (lib/torrent.ts refuses more).
const maxIndex = 100_000;
const control = /[\u0000-\u001f\u007f]/;

const bad = (why: string) => new AppError("invalid_request", `"files" ${why}.`);

/** A selection from the API (null: every file). Duplicates go; the order is kept. */
export function parseSelection(v: unknown): FileSelection | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw bad("must be a list of file indexes and globs");
  if (v.length === 0) throw bad("must name at least one file (leave it out to fetch every file)");
  if (v.length > maxSelectionEntries) throw bad(`may list at most ${maxSelectionEntries} entries`);
  for (const e of v) {
    if (typeof e === "number") {
      if (!Number.isSafeInteger(e) || e < 0 || e >= maxIndex) throw bad(`has ${JSON.stringify(e)}, which is not a file index (a whole number from 0)`);
    } else if (typeof e === "string") {
      if (e.trim() === "") throw bad("has an empty glob");
      if (e.length > maxGlobLength) throw bad(`has a glob longer than ${maxGlobLength} characters`);
      if (control.test(e)) throw bad("has a glob with control characters");
    } else {
      throw bad("may hold only file indexes (numbers) and globs (strings)");
    }
  }
  return [...new Set(v as FileSelection)];
}

/**
 * A selection typed as text, as the bot's option takes it: entries separated by commas, whole numbers
 * read as indexes, anything else as a glob ("0, 2, *.srt"). Null for blank text; parseSelection checks it.
 */
export function selectionFromText(text: string): FileSelection | null {
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  return parts.length === 0 ? null : parts.map((p) => (/^\d{1,9}$/.test(p) ? Number(p) : p));
}

/**
 * Whether a glob names a file. `path` is the file's path as the torrent lists it, the torrent's folder
 * first ("Show/S01/e1.mkv"). A glob may match the whole path, the path inside the torrent's folder, or,
 * with no "/" in it, the file's name alone: "*.mkv" means every .mkv wherever it lies.
 * Node's own matcher (path.matchesGlob, stable in Node 24): no dependency, and a glob means here what
 * it means to a shell.
 */
export function globMatches(glob: string, path: string): boolean {
  if (posix.matchesGlob(path, glob)) return true;
  const inner = path.includes("/") ? path.slice(path.indexOf("/") + 1) : null;
  if (inner !== null && posix.matchesGlob(inner, glob)) return true;
  return !glob.includes("/") && posix.matchesGlob(posix.basename(path), glob);
}

export interface Resolved {
  /** The chosen file indexes, ascending. */
  indexes: number[];
  /** Entries that name no file: indexes out of range, globs that match nothing. */
  unmatched: FileSelection;
}

/** The files a selection names among `paths` (the torrent's files in order); null selects every one. */
export function resolveSelection(sel: FileSelection | null, paths: readonly string[]): Resolved {
  if (sel === null) return { indexes: paths.map((_, i) => i), unmatched: [] };
  const chosen = new Set<number>();
  const unmatched: FileSelection = [];
  for (const e of sel) {
    if (typeof e === "number") {
      if (e < paths.length) chosen.add(e);
      else unmatched.push(e);
      continue;
    }
    let hit = false;
    paths.forEach((p, i) => {
      if (globMatches(e, p)) (chosen.add(i), (hit = true));
    });
    if (!hit) unmatched.push(e);
  }
  return { indexes: [...chosen].sort((a, b) => a - b), unmatched };
}

/** A selection checked against a torrent's files, as indexes; any entry that names no file is a 400. */
export function checkSelection(sel: FileSelection, paths: readonly string[]): number[] {
  const { indexes, unmatched } = resolveSelection(sel, paths);
  const idx = unmatched.filter((e) => typeof e === "number");
  if (idx.length > 0) throw bad(`names file ${idx.join(", ")}, but this torrent has ${paths.length} file${paths.length === 1 ? "" : "s"} (indexes 0 to ${paths.length - 1})`);
  if (unmatched.length > 0) throw bad(`has ${unmatched.map((g) => JSON.stringify(g)).join(", ")}, which match${unmatched.length === 1 ? "es" : ""} no file of this torrent`);
  return indexes;
}

/** Two selections together (null, every file, takes in anything). */
export function widen(a: FileSelection | null, b: FileSelection | null): FileSelection | null {
  return a === null || b === null ? null : [...new Set([...a, ...b])];
}

/** Whether `have` already names everything `want` names (entry by entry: globs are not resolved here). */
export function covers(have: FileSelection | null, want: FileSelection | null): boolean {
  if (have === null) return true;
  if (want === null) return false;
  const h = new Set(have);
  return want.every((e) => h.has(e));
}

/** The union of what each requester chose; a requester with no selection wants every file. */
export function unionOf(chosen: readonly (FileSelection | null | undefined)[]): FileSelection | null {
  if (chosen.length === 0) return null;
  return chosen.reduce<FileSelection | null>((u, c) => widen(u, c ?? null), []);
}
