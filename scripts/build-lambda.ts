// Builds what the AWS stack uploads: the ingest Lambda bundle (index.mjs + web/, whose web/ also goes
// to the page bucket), the Discord Lambda bundle (bot/lambda.ts: interactions, worker, updates) and
// the app release for the seedbox host (the runtime sources with package.json and package-lock.json).
import { randomBytes } from "node:crypto";
import { cp, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { buildWeb } from "./build-web.ts";

export interface AwsBuild {
  lambdaDir: string;
  /** The Discord functions' bundle (index.mjs). */
  discordDir: string;
  releaseDir: string;
}

const releaseEntries = ["package.json", "package-lock.json", "lib", "seedbox", "bot", "deploy"];

// Some bundled CommonJS dependencies call require().
const requireBanner = "import { createRequire as __t2sRequire } from 'node:module'; const require = __t2sRequire(import.meta.url);";

async function bundle(entry: string, outDir: string, o: { split?: boolean } = {}): Promise<void> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { index: entry },
    // Split: index.mjs plus chunks/*.mjs that dynamic imports load at first use.
    ...(o.split ? { splitting: true, outdir: outDir, outExtension: { ".js": ".mjs" }, chunkNames: "chunks/[name]-[hash]" } : { outfile: join(outDir, "index.mjs") }),
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    minify: true,
    legalComments: "none",
    banner: { js: requireBanner },
    logLevel: "warning",
  });
}

/**
 * One local service as a single unminified ES module at `outFile`, written whole by a rename (stacks that
 * start at once build the same bytes). Node then neither strips types nor resolves thousands of small
 * module files: each service starts at about 50 MB less RSS.
 */
export async function bundleService(entry: string, outFile: string): Promise<string> {
  await mkdir(dirname(outFile), { recursive: true });
  const r = await build({
    entryPoints: [entry], bundle: true, platform: "node", target: "node24", format: "esm", write: false, outfile: outFile,
    legalComments: "none", banner: { js: requireBanner }, logLevel: "warning",
  });
  const tmp = `${outFile}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, r.outputFiles[0]!.contents);
  await rename(tmp, outFile);
  return outFile;
}

export async function buildLambda(root: string, outDir: string): Promise<string> {
  await bundle(join(root, "ingest", "lambda.ts"), outDir);
  await buildWeb(root, join(outDir, "web"));
  return outDir;
}

/** The Discord functions: no discord.js in it, only @discordjs/rest and discord-api-types (split: see bot/lambda.ts). */
export async function buildDiscordLambda(root: string, outDir: string): Promise<string> {
  await bundle(join(root, "bot", "lambda.ts"), outDir, { split: true });
  return outDir;
}

export async function stageRelease(root: string, outDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  for (const e of releaseEntries) await cp(join(root, e), join(outDir, e), { recursive: true });
  return outDir;
}

export async function buildAws(root: string, outDir = join(root, "dist", "aws")): Promise<AwsBuild> {
  return {
    lambdaDir: await buildLambda(root, join(outDir, "lambda")),
    discordDir: await buildDiscordLambda(root, join(outDir, "discord")),
    releaseDir: await stageRelease(root, join(outDir, "release")),
  };
}

if (import.meta.main) console.log(await buildAws(join(import.meta.dirname, "..")));
