// Builds the page into dist/web: static HTML and CSS, and web/app.ts bundled by esbuild.
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

export async function buildWeb(root: string, outDir = join(root, "dist", "web")): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, "web", "app.ts")],
    outfile: join(outDir, "app.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    logLevel: "warning",
  });
  await copyFile(join(root, "web", "index.html"), join(outDir, "index.html"));
  await copyFile(join(root, "web", "app.css"), join(outDir, "app.css"));
  return outDir;
}

if (import.meta.main) await buildWeb(join(import.meta.dirname, ".."));
