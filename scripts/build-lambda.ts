// Builds what the AWS stack uploads: the ingest Lambda bundle (index.mjs + web/, whose web/ also goes
// to the page bucket), the Discord Lambda bundle (bot/lambda.ts: interactions, worker, updates) and
// the app release for the seedbox host (scripts/build-release.ts: bundles and Node, one tarball per CPU).
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { requireBanner } from "./bundle-service.ts";
import { buildWeb } from "./build-web.ts";
import { buildRelease } from "./build-release.ts";

export interface AwsBuild {
  lambdaDir: string;
  /** The Discord functions' bundle (index.mjs). */
  discordDir: string;
  /** The release tarballs (releaseFile(arch) for each architecture). */
  releaseDir: string;
}


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

export async function buildAws(root: string, outDir = join(root, "dist", "aws")): Promise<AwsBuild> {
  return {
    lambdaDir: await buildLambda(root, join(outDir, "lambda")),
    discordDir: await buildDiscordLambda(root, join(outDir, "discord")),
    releaseDir: await buildRelease(root, join(outDir, "release")),
  };
}

if (import.meta.main) console.log(await buildAws(join(import.meta.dirname, "..")));
