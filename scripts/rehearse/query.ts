// A raw query-protocol call to moto (EC2, IAM, STS): the project has no SDK client for these services, and
// the rehearsal's stand-ins only read a few fields back.
import { signRequest, type Keys } from "../local/moto-guard.ts";

export type Query = (service: "ec2" | "iam" | "sts", params: Record<string, string>) => Promise<string>;

export function motoQuery(endpoint: string, keys: Keys, region: string): Query {
  return async (service, params) => {
    const body = Buffer.from(new URLSearchParams(params).toString());
    const host = new URL(endpoint).host;
    const headers = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };
    const signed = await signRequest({ method: "POST", host, path: "/", headers, body }, keys, service, region);
    const res = await fetch(`${endpoint}/`, { method: "POST", headers: { ...headers, ...signed }, body });
    const text = await res.text();
    if (!res.ok) throw new Error(`${service} ${params.Action}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return text;
  };
}
