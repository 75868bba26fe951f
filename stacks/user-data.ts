// Renders the seedbox host's cloud-init user data from deploy/: the setup script with its
// placeholders filled, and the helper scripts and systemd units embedded as files.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const deployDir = join(import.meta.dirname, "..", "deploy");

export interface UserDataValues {
  region: string;
  bucket: string;
  releaseKey: string;
  /** Lines of /etc/t2s/t2s.env (names and addresses, never secrets). */
  serviceEnv: Record<string, string>;
}

const embedded: [file: string, target: string, mode: string][] = [
  ["deluge-init.sh", "/usr/local/lib/t2s/deluge-init.sh", "0755"],
  ["ssm-env.sh", "/usr/local/lib/t2s/ssm-env.sh", "0755"],
  ...readdirSync(join(deployDir, "systemd")).filter((f) => f.endsWith(".service")).sort()
    .map((f): [string, string, string] => [join("systemd", f), `/etc/systemd/system/${f}`, "0644"]),
];

function fileBlock(rel: string, target: string, mode: string): string {
  const body = readFileSync(join(deployDir, rel), "utf8");
  if (body.includes("T2S_EOF")) throw new Error(`${rel} must not contain the heredoc marker T2S_EOF`);
  return `install -d "$(dirname ${target})"\ncat > ${target} <<'T2S_EOF'\n${body.replace(/\n$/, "")}\nT2S_EOF\nchmod ${mode} ${target}`;
}

/**
 * The user data script. With `forTerraform`, literal "${" and "%{" are escaped so that terraform
 * leaves the script's own shell and systemd expansions alone; the values may then be terraform tokens.
 */
export function renderUserData(v: UserDataValues, o: { forTerraform: boolean }): string {
  const esc = (s: string) => (o.forTerraform ? s.replaceAll("${", () => "$${").replaceAll("%{", () => "%%{") : s);
  const quoted = (s: string) => {
    if (s.includes("'")) throw new Error(`user data value ${JSON.stringify(s)} must not contain a single quote`);
    return s;
  };
  const env = Object.entries(v.serviceEnv).map(([k, val]) => `${k}=${quoted(val)}`).join("\n");
  const files = embedded.map(([rel, target, mode]) => esc(fileBlock(rel, target, mode))).join("\n\n");
  return esc(readFileSync(join(deployDir, "user-data.sh"), "utf8"))
    .replace("@REGION@", () => quoted(v.region))
    .replace("@BUCKET@", () => quoted(v.bucket))
    .replace("@RELEASE_KEY@", () => quoted(v.releaseKey))
    .replace("@SERVICE_ENV@", () => env)
    .replace("@FILES@", () => files);
}
