// The instance's own id from the EC2 instance metadata service, IMDSv2 only (a session token first):
// the launch template requires tokens, with a hop limit of 1.

export const defaultImdsUrl = "http://169.254.169.254";

/** T2S_IMDS_URL moves the base for tests; a short timeout, since off EC2 nothing answers. */
export async function instanceId(o: { baseUrl?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
  const base = (o.baseUrl ?? defaultImdsUrl).replace(/\/+$/, "");
  const signal = AbortSignal.any([AbortSignal.timeout(o.timeoutMs ?? 2000), ...(o.signal ? [o.signal] : [])]);
  const tokenRes = await fetch(`${base}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "300" }, signal });
  if (!tokenRes.ok) throw new Error(`IMDS token request answered ${tokenRes.status}`);
  const token = await tokenRes.text();
  const res = await fetch(`${base}/latest/meta-data/instance-id`, { headers: { "x-aws-ec2-metadata-token": token }, signal });
  if (!res.ok) throw new Error(`IMDS instance-id answered ${res.status}`);
  const id = (await res.text()).trim();
  if (!/^i-[0-9a-f]+$/.test(id)) throw new Error(`IMDS gave an instance id that is not one: ${JSON.stringify(id.slice(0, 40))}`);
  return id;
}
