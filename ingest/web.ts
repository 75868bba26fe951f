// The page's static files, read once at start from the built web folder.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pageFiles } from "./public-paths.ts";

export interface WebFile {
  body: Buffer;
  type: string;
}

export type WebFiles = ReadonlyMap<string, WebFile>;

/** The route of a page file: "/" for index.html, else "/" + its name. */
const routeOf = (key: string) => (key === "index.html" ? "/" : `/${key}`);

export async function loadWebFiles(dir: string): Promise<WebFiles> {
  const out = new Map<string, WebFile>();
  for (const [key, type] of pageFiles) out.set(routeOf(key), { body: await readFile(join(dir, key)), type });
  return out;
}
