// Least privilege, enforced by running under it: each rehearsed function and instance gets credentials
// for its own role (moto's STS), every AWS call made with them is recorded (the moto front's observer, the
// S3 recording proxy), and at the end each distinct call is judged against the role's applied policies,
// inline and attached (managed ones included), by @cloud-copilot/iam-simulate: a real IAM policy
// evaluator, so conditions, wildcards and explicit denies count as in AWS. What remains is a list of the
// calls the roles lack and of the grants no call used.
import { GetPolicyCommand, GetPolicyVersionCommand, GetRolePolicyCommand, ListAttachedRolePoliciesCommand, ListRolePoliciesCommand, type IAMClient } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { describeCall, motoAccount, type SeenRequest } from "./iam-calls.ts";

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration?: Date;
  roleArn: string;
  /** The session's own ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>). */
  principalArn: string;
}

/** Credentials for `roleArn` from STS AssumeRole at `endpoint`, asked with `keys` (moto grants any role). */
export async function assumeRole(o: {
  endpoint: string;
  keys: { accessKeyId: string; secretAccessKey: string };
  roleArn: string;
  sessionName?: string;
  region?: string;
  durationSeconds?: number;
}): Promise<RoleCredentials> {
  const sts = new STSClient({ endpoint: o.endpoint, region: o.region ?? "us-east-1", credentials: o.keys, maxAttempts: 1 });
  try {
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: o.roleArn, RoleSessionName: o.sessionName ?? "rehearsal", DurationSeconds: o.durationSeconds ?? 3600 }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error(`AssumeRole ${o.roleArn} returned no credentials`);
    return {
      accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration,
      roleArn: o.roleArn, principalArn: out.AssumedRoleUser?.Arn ?? o.roleArn,
    };
  } finally {
    sts.destroy();
  }
}

/** One distinct thing a role asked IAM for, however many times. */
export interface RecordedCall {
  roleArn: string;
  principalArn: string;
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
  count: number;
  /** The HTTP statuses the calls got, each once. */
  statuses: number[];
}

/** A request as an endpoint saw it, with the status it answered. */
export type AnsweredRequest = SeenRequest & { status: number };

/**
 * Records the calls made with registered credentials. Pass `observe` to the moto front (startMoto's
 * `observe`) and to the S3 recording proxy. Nothing secret is kept: not the path (a presigned URL's
 * signature and token are in its query), nor headers or bodies.
 */
export class IamRecorder {
  readonly #roles = new Map<string, { roleArn: string; principalArn: string }>();
  readonly #calls = new Map<string, RecordedCall>();
  readonly #o: { account?: string; instanceGroup?: (instanceId: string) => string | undefined };

  /** `account`: for ARNs built from names (moto's by default); `instanceGroup`: see DescribeOptions. */
  constructor(o: { account?: string; instanceGroup?: (instanceId: string) => string | undefined } = {}) {
    this.#o = o;
  }

  /** Calls signed with `accessKeyId` are `roleArn`'s from now on. */
  register(c: Pick<RoleCredentials, "accessKeyId" | "roleArn"> & { principalArn?: string }): void {
    this.#roles.set(c.accessKeyId, { roleArn: c.roleArn, principalArn: c.principalArn ?? c.roleArn });
  }

  readonly observe = (r: AnsweredRequest): void => {
    const d = describeCall(r, this.#o);
    const role = d && this.#roles.get(d.signer.accessKeyId);
    if (!d || !role) return;
    for (const a of d.authorizations) {
      const key = JSON.stringify([role.roleArn, a.action, a.resource, a.context]);
      const call = this.#calls.get(key) ?? { ...role, ...a, count: 0, statuses: [] };
      call.count++;
      if (!call.statuses.includes(r.status)) call.statuses.push(r.status);
      this.#calls.set(key, call);
    }
  };

  calls(): RecordedCall[] {
    return [...this.#calls.values()];
  }

  /** The roles registered, each once. */
  roles(): string[] {
    return [...new Set([...this.#roles.values()].map((r) => r.roleArn))];
  }
}

export interface RolePolicy {
  /** The inline policy's name, or the managed policy's ARN. */
  name: string;
  document: PolicyDocument;
}

export interface PolicyDocument {
  Statement: PolicyStatement | PolicyStatement[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, unknown>;
}

/** IAM returns policy documents URL-encoded (moto too, in some versions not). */
function parseDocument(doc: string | undefined): PolicyDocument {
  if (!doc) throw new Error("a policy without a document");
  try {
    return JSON.parse(doc) as PolicyDocument;
  } catch {
    return JSON.parse(decodeURIComponent(doc)) as PolicyDocument;
  }
}

/** The policies applied to `roleArn`: its inline ones, and the default version of each attached one. */
export async function rolePolicies(iam: IAMClient, roleArn: string): Promise<RolePolicy[]> {
  const RoleName = roleArn.slice(roleArn.lastIndexOf("/") + 1);
  const out: RolePolicy[] = [];
  let Marker: string | undefined;
  do {
    const page = await iam.send(new ListRolePoliciesCommand({ RoleName, Marker }));
    for (const PolicyName of page.PolicyNames ?? []) {
      const p = await iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }));
      out.push({ name: PolicyName, document: parseDocument(p.PolicyDocument) });
    }
    Marker = page.IsTruncated ? page.Marker : undefined;
  } while (Marker);
  do {
    const page = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName, Marker }));
    for (const { PolicyArn } of page.AttachedPolicies ?? []) {
      const policy = await iam.send(new GetPolicyCommand({ PolicyArn }));
      const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn, VersionId: policy.Policy?.DefaultVersionId }));
      out.push({ name: PolicyArn!, document: parseDocument(version.PolicyVersion?.Document) });
    }
    Marker = page.IsTruncated ? page.Marker : undefined;
  } while (Marker);
  return out;
}

/** A call its role's policies do not allow, or that could not be judged (an action IAM does not know). */
export interface Finding extends RecordedCall {
  decision: "ImplicitlyDenied" | "ExplicitlyDenied" | "Unevaluated";
  /** Why a call was not judged: the simulator's validation message. */
  reason?: string;
}

/** One (action pattern, resource pattern) pair of an Allow statement that no allowed call matched. */
export interface UnusedGrant {
  roleArn: string;
  policy: string;
  /** The statement's Sid, or its position (1-based) in the policy. */
  statement: string;
  action: string;
  resource: string;
}

export interface Evaluation {
  /** Distinct calls judged. */
  calls: number;
  allowed: number;
  denied: Finding[];
  unusedGrants: UnusedGrant[];
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const many = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/** A NotAction or NotResource element stands as one pattern: "not a, b". */
const notLabel = (v: string | string[] | undefined) => `not ${list(v).join(", ")}`;

/**
 * Judges each recorded call against its role's policies (`policies`, by role ARN; rolePolicies reads
 * them). A role without policies allows nothing. `account` is the account of resources whose ARN has none (S3).
 */
export async function evaluateCalls(calls: RecordedCall[], policies: Map<string, RolePolicy[]>, account = motoAccount): Promise<Evaluation> {
  const used = new Set<string>();
  const grantKey = (roleArn: string, policy: string, statement: number, action: string, resource: string) => JSON.stringify([roleArn, policy, statement, action, resource]);
  const denied: Finding[] = [];
  let allowed = 0;
  for (const call of calls) {
    const rolePolicies = policies.get(call.roleArn) ?? [];
    const arnAccount = call.resource.split(":")[4];
    const r = await runSimulation({
      request: { principal: call.principalArn, action: call.action, resource: { resource: call.resource, accountId: arnAccount || account }, contextVariables: call.context },
      identityPolicies: rolePolicies.map((p) => ({ name: p.name, policy: p.document })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }, {});
    if (r.resultType === "error") {
      denied.push({ ...call, decision: "Unevaluated", reason: r.errors.message });
      continue;
    }
    if (r.overallResult !== "Allowed") {
      denied.push({ ...call, decision: r.overallResult });
      continue;
    }
    allowed++;
    const results = r.resultType === "single" ? [r.result] : r.results;
    for (const s of results.flatMap((x) => x.analysis.identityAnalysis?.allowStatements ?? [])) {
      const st = s.statement.index();
      const doc = rolePolicies.find((p) => p.name === s.policyId);
      const raw = doc && many(doc.document.Statement)[st - 1];
      const actions = s.explain.actions === undefined ? [notLabel(raw?.NotAction)] : many(s.explain.actions).filter((e) => e.matches).map((e) => e.action);
      const resources = s.explain.resources === undefined ? [notLabel(raw?.NotResource)] : many(s.explain.resources).filter((e) => e.matches).map((e) => e.resource);
      for (const a of actions) for (const res of resources) used.add(grantKey(call.roleArn, s.policyId, st, a, res));
    }
  }
  const unusedGrants: UnusedGrant[] = [];
  for (const [roleArn, rolePolicies] of policies) {
    for (const p of rolePolicies) {
      many(p.document.Statement).forEach((st, i) => {
        if (st.Effect !== "Allow") return;
        const actions = st.Action !== undefined ? list(st.Action) : [notLabel(st.NotAction)];
        const resources = st.Resource !== undefined ? list(st.Resource) : [notLabel(st.NotResource)];
        for (const action of actions) {
          for (const resource of resources) {
            if (!used.has(grantKey(roleArn, p.name, i + 1, action, resource))) unusedGrants.push({ roleArn, policy: p.name, statement: st.Sid ?? String(i + 1), action, resource });
          }
        }
      });
    }
  }
  return { calls: calls.length, allowed, denied, unusedGrants };
}

/** Reads each recorded role's policies through `iam` and judges the recorder's calls against them. */
export async function evaluateRecorder(recorder: IamRecorder, iam: IAMClient, account = motoAccount): Promise<Evaluation> {
  const policies = new Map<string, RolePolicy[]>();
  for (const roleArn of recorder.roles()) policies.set(roleArn, await rolePolicies(iam, roleArn));
  return evaluateCalls(recorder.calls(), policies, account);
}
