// The page's static files, read once at start from the built web folder.
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface WebFile {
  body: Buffer;
  type: string;
}

export type WebFiles = ReadonlyMap<string, WebFile>;

const files: [string, string, string][] = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/app.css", "app.css", "text/css; charset=utf-8"],
];

export async function loadWebFiles(dir: string): Promise<WebFiles> {
  const out = new Map<string, WebFile>();
  for (const [route, name, type] of files) out.set(route, { body: await readFile(join(dir, name)), type });
  return out;
}
