// Names what a terraform test needs and is missing, so it fails with a reason instead of skipping.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { venvBin } from "../../scripts/local/paths.ts";
import { findProviderMirror } from "../../scripts/local/terraform.ts";

/** The provider mirror's folder; throws naming every missing piece. */
export function terraformPreflight(what: string, o: { moto?: boolean } = {}): string {
  const missing: string[] = [];
  try {
    execFileSync("terraform", ["version"], { stdio: "ignore" });
  } catch {
    missing.push("the terraform binary on PATH");
  }
  const mirror = findProviderMirror();
  if (!mirror) missing.push("a filesystem mirror of registry.terraform.io/hashicorp/aws 5.100.0 (set T2S_TF_PROVIDER_MIRROR)");
  if (o.moto && !existsSync(venvBin("moto_server"))) missing.push(`moto_server at ${venvBin("moto_server")} (run bash scripts/bootstrap.sh --test)`);
  if (missing.length > 0 || !mirror) throw new Error(`${what} cannot run; missing: ${missing.join("; ")}`);
  return mirror;
}
