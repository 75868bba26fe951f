// CloudFront for the rehearsal: the applied distribution (cloudfront.ts reads it back from moto) served on
// loopback, each origin mapped to what stands in for it here: the page bucket to moto's S3, the ingest
// function URL to the Lambda runner's URL server, which checks CloudFront's OAC signature.
import { readFile } from "node:fs/promises";
import type { Keys } from "../local/moto-guard.ts";
import { originAccessControlIdsFromState, readDistribution, serveDistribution, type AppliedDistribution, type CloudFrontStandIn } from "./cloudfront.ts";
import type { LambdaRunner } from "./lambda.ts";
import { synthesizePageFront } from "./page-front-synth.ts";

export interface Front extends CloudFrontStandIn {
  /** The distribution's domain as applied (what page_url names). */
  domainName: string;
}

export async function startFront(o: {
  motoEndpoint: string;
  keys: Keys;
  region: string;
  /** The identity CloudFront signs origin requests with. */
  cloudfrontKeys: Keys;
  runner: Pick<LambdaRunner, "urls">;
  /** terraform's state file (origin access control ids, which moto drops from the config). */
  statePath: string;
  /** Changes the applied config before it is served (the rehearsal's canary drops a route). */
  edit?: (config: AppliedDistribution["config"]) => AppliedDistribution["config"];
  port?: number;
}): Promise<Front> {
  const state = JSON.parse(await readFile(o.statePath, "utf8")) as Parameters<typeof originAccessControlIdsFromState>[0];
  const applied = await readDistribution({ endpoint: o.motoEndpoint, credentials: o.keys, region: o.region, originAccessControlIds: originAccessControlIdsFromState(state) });
  const distribution = o.edit ? { ...applied, config: o.edit(structuredClone(applied.config)) } : applied;
  const urls = Object.values(o.runner.urls);
  const origins: Record<string, string> = {};
  for (const origin of distribution.config.Origins?.Items ?? []) {
    const domain = origin.DomainName ?? "";
    const bucket = /^(.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$/.exec(domain)?.[1];
    const fn = urls.find((u) => new URL(u.functionUrl).host === domain);
    if (bucket) origins[domain] = `${o.motoEndpoint}/${bucket}`;
    else if (fn) origins[domain] = fn.local.replace(/\/$/, "");
    else throw new Error(`the distribution's origin ${domain} is neither a bucket nor a function URL the rehearsal runs`);
  }
  // moto has no response headers policies, so the stack applied there names none: the policy comes from
  // the stack as synthesized for AWS.
  const { headersPolicy } = synthesizePageFront("");
  const served = await serveDistribution({ distribution, origins, credentials: o.cloudfrontKeys, headersPolicy: { config: headersPolicy }, ...(o.port ? { port: o.port } : {}) });
  return { ...served, domainName: distribution.domainName };
}
