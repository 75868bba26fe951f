// What an AWS request asks IAM for: who signed it, and each (action, resource, condition keys) it needs
// allowed. Pure, from the request as it arrives at an endpoint (the moto front, the S3 recording proxy),
// so the rehearsal can judge each call against the caller's role. Path-style S3 only, as locally.

export interface SeenRequest {
  method: string;
  /** The path with its query. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body, or as much of it as was kept: only JSON, form and DeleteObjects bodies are read. */
  body?: Buffer;
}

export interface Signer {
  accessKeyId: string;
  region: string;
  /** The credential scope's service: the signing name, also the IAM prefix for every service here. */
  service: string;
}

/** One thing IAM authorizes: a request can need several (CopyObject reads one object and writes another). */
export interface Authorization {
  action: string;
  resource: string;
  /** Request condition keys, such as s3:prefix or dynamodb:LeadingKeys. */
  context: Record<string, string | string[]>;
}

export interface DescribedCall {
  signer: Signer;
  authorizations: Authorization[];
}

export interface DescribeOptions {
  /** The account in ARNs built from names (moto's). */
  account?: string;
  /**
   * The group an instance belongs to: TerminateInstanceInAutoScalingGroup names only the instance, but
   * IAM authorizes it on the group.
   */
  instanceGroup?: (instanceId: string) => string | undefined;
}

export const motoAccount = "123456789012";

type Params = Record<string, string[]>;

function parseParams(s: string, form: boolean): Params {
  const out: Params = {};
  for (const pair of s.split("&")) {
    if (!pair) continue;
    const i = pair.indexOf("=");
    const decode = (x: string) => {
      try {
        return decodeURIComponent(form ? x.replaceAll("+", " ") : x);
      } catch {
        return x;
      }
    };
    const [k, v] = i < 0 ? [decode(pair), ""] : [decode(pair.slice(0, i)), decode(pair.slice(i + 1))];
    (out[k] ??= []).push(v);
  }
  return out;
}

const header = (r: SeenRequest, name: string): string => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(",") : (v ?? "");
};

const credentialScope = /^([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request$/;

/** The signer from the Authorization header's Credential, or a presigned URL's X-Amz-Credential. */
export function signerOf(r: SeenRequest): Signer | null {
  const fromHeader = /Credential=([^,\s]+)/.exec(header(r, "authorization"))?.[1];
  const q = r.path.indexOf("?");
  const fromQuery = q < 0 ? undefined : parseParams(r.path.slice(q + 1), false)["X-Amz-Credential"]?.[0];
  const m = credentialScope.exec(fromHeader ?? fromQuery ?? "");
  return m ? { accessKeyId: m[1]!, region: m[2]!, service: m[3]! } : null;
}

/** Who signed `r`, and what IAM must allow for it; null when it is not SigV4-signed. */
export function describeCall(r: SeenRequest, o: DescribeOptions = {}): DescribedCall | null {
  const signer = signerOf(r);
  if (!signer) return null;
  const ctx: Ctx = { region: signer.region, account: o.account ?? motoAccount, instanceGroup: o.instanceGroup ?? (() => undefined) };
  const q = r.path.indexOf("?");
  const [pathname, query] = q < 0 ? [r.path, ""] : [r.path.slice(0, q), r.path.slice(q + 1)];
  const target = header(r, "x-amz-target");
  let authorizations: Authorization[];
  if (signer.service === "s3") authorizations = s3(r.method.toUpperCase(), pathname, parseParams(query, false), r, ctx);
  else if (signer.service === "lambda") authorizations = lambda(r.method.toUpperCase(), pathname, ctx);
  else if (target) authorizations = jsonCall(signer.service, target, jsonBody(r.body), ctx);
  else {
    const params = parseParams(query, false);
    if (/x-www-form-urlencoded/i.test(header(r, "content-type")) && r.body) {
      for (const [k, v] of Object.entries(parseParams(r.body.toString("utf8"), true))) (params[k] ??= []).push(...v);
    }
    authorizations = queryCall(signer.service, pathname, params, ctx);
  }
  return { signer, authorizations };
}

interface Ctx {
  region: string;
  account: string;
  instanceGroup: (instanceId: string) => string | undefined;
}

const auth = (action: string, resource: string, context: Record<string, string | string[]> = {}): Authorization => ({ action, resource, context });

// S3 ---------------------------------------------------------------------------------------------------

/** Bucket subresources, by method: the action each one is authorized as. */
const bucketSubresources: Record<string, Record<string, string>> = {
  GET: {
    uploads: "ListBucketMultipartUploads", versions: "ListBucketVersions", location: "GetBucketLocation", policy: "GetBucketPolicy",
    notification: "GetBucketNotification", lifecycle: "GetLifecycleConfiguration", publicAccessBlock: "GetBucketPublicAccessBlock",
    encryption: "GetEncryptionConfiguration", acl: "GetBucketAcl", tagging: "GetBucketTagging", versioning: "GetBucketVersioning",
    cors: "GetBucketCORS", ownershipControls: "GetBucketOwnershipControls", website: "GetBucketWebsite", logging: "GetBucketLogging",
    policyStatus: "GetBucketPolicyStatus", accelerate: "GetAccelerateConfiguration", "object-lock": "GetBucketObjectLockConfiguration",
  },
  PUT: {
    policy: "PutBucketPolicy", notification: "PutBucketNotification", lifecycle: "PutLifecycleConfiguration",
    publicAccessBlock: "PutBucketPublicAccessBlock", encryption: "PutEncryptionConfiguration", acl: "PutBucketAcl",
    tagging: "PutBucketTagging", versioning: "PutBucketVersioning", cors: "PutBucketCORS", ownershipControls: "PutBucketOwnershipControls",
    website: "PutBucketWebsite", logging: "PutBucketLogging",
  },
  // AWS authorizes most deletions of a bucket setting as putting it.
  DELETE: {
    policy: "DeleteBucketPolicy", lifecycle: "PutLifecycleConfiguration", publicAccessBlock: "PutBucketPublicAccessBlock",
    encryption: "PutEncryptionConfiguration", tagging: "PutBucketTagging", cors: "PutBucketCORS", website: "DeleteBucketWebsite",
    ownershipControls: "PutBucketOwnershipControls",
  },
};
bucketSubresources.HEAD = bucketSubresources.GET!;

const objectSubresources: Record<string, Record<string, string>> = {
  GET: { uploadId: "ListMultipartUploadParts", tagging: "GetObjectTagging", acl: "GetObjectAcl", versionId: "GetObjectVersion" },
  PUT: { tagging: "PutObjectTagging", acl: "PutObjectAcl" },
  POST: { restore: "RestoreObject" },
  DELETE: { uploadId: "AbortMultipartUpload", tagging: "DeleteObjectTagging", versionId: "DeleteObjectVersion" },
};
objectSubresources.HEAD = { versionId: "GetObjectVersion" };

function s3(method: string, pathname: string, q: Params, r: SeenRequest, ctx: Ctx): Authorization[] {
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const [, bucket = "", ...rest] = pathname.split("/");
  const key = rest.map(decode).join("/");
  const bucketArn = `arn:aws:s3:::${decode(bucket)}`;
  const s = (action: string, resource: string, context?: Record<string, string | string[]>) => auth(`s3:${action}`, resource, context);
  if (!bucket) return [s("ListAllMyBuckets", "*")];
  const has = (name: string) => q[name] !== undefined;
  if (!key) {
    const sub = Object.entries(bucketSubresources[method] ?? {}).find(([name]) => has(name));
    if (sub) return [s(sub[1], bucketArn)];
    if (method === "GET" || method === "HEAD") {
      // ListObjects(V2), and HeadBucket: s3:ListBucket, with the listing's condition keys.
      const context: Record<string, string> = {};
      for (const k of ["prefix", "delimiter", "max-keys"]) if (q[k]?.[0] !== undefined) context[`s3:${k}`] = q[k]![0]!;
      return [s("ListBucket", bucketArn, context)];
    }
    if (method === "POST" && has("delete")) {
      // DeleteObjects is authorized as s3:DeleteObject on each key it names.
      const keys = [...(r.body?.toString("utf8") ?? "").matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => xmlText(m[1]!));
      return keys.length ? keys.map((k) => s("DeleteObject", `${bucketArn}/${k}`)) : [s("DeleteObject", `${bucketArn}/*`)];
    }
    if (method === "PUT") return [s("CreateBucket", bucketArn)];
    if (method === "DELETE") return [s("DeleteBucket", bucketArn)];
    return [s("ListBucket", bucketArn)];
  }
  const objectArn = `${bucketArn}/${key}`;
  const sub = Object.entries(objectSubresources[method] ?? {}).find(([name]) => has(name));
  if (sub) return [s(sub[1], objectArn)];
  // PutObject, UploadPart (with uploadId), CreateMultipartUpload (POST ?uploads), CompleteMultipartUpload
  // (POST ?uploadId), and a POST form upload: all are s3:PutObject.
  if (method === "PUT" || method === "POST") {
    const source = header(r, "x-amz-copy-source");
    if (!source) return [s("PutObject", objectArn)];
    const from = decode(source.split("?")[0]!.replace(/^\//, ""));
    return [s("PutObject", objectArn), s("GetObject", `arn:aws:s3:::${from}`)];
  }
  if (method === "DELETE") return [s("DeleteObject", objectArn)];
  return [s("GetObject", objectArn)];
}

const xmlText = (s: string) => s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e]!);

// Lambda (REST) ----------------------------------------------------------------------------------------

const lambdaRoutes: [RegExp, Record<string, string>][] = [
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/([^/]+)\/invocations$/, { POST: "InvokeFunction" }],
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/([^/]+)\/configuration$/, { GET: "GetFunctionConfiguration", PUT: "UpdateFunctionConfiguration" }],
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/([^/]+)\/code$/, { PUT: "UpdateFunctionCode" }],
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/([^/]+)\/url$/, { GET: "GetFunctionUrlConfig", PUT: "UpdateFunctionUrlConfig", POST: "CreateFunctionUrlConfig", DELETE: "DeleteFunctionUrlConfig" }],
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/([^/]+)\/policy$/, { GET: "GetPolicy", POST: "AddPermission" }],
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/([^/]+)$/, { GET: "GetFunction", DELETE: "DeleteFunction" }],
  [/^\/\d{4}-\d{2}-\d{2}\/functions\/?$/, { GET: "ListFunctions", POST: "CreateFunction" }],
  [/^\/\d{4}-\d{2}-\d{2}\/event-source-mappings\/?$/, { GET: "ListEventSourceMappings", POST: "CreateEventSourceMapping" }],
];

function lambda(method: string, pathname: string, ctx: Ctx): Authorization[] {
  for (const [route, actions] of lambdaRoutes) {
    const m = route.exec(pathname);
    const action = actions[method];
    if (!m || !action) continue;
    const name = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    // A function is named by name, by ARN, or either with a :qualifier; IAM's resource is the function.
    const fn = name === undefined ? "*" : name.startsWith("arn:") ? name.split(":").slice(0, 7).join(":")
      : `arn:aws:lambda:${ctx.region}:${ctx.account}:function:${name.split(":")[0]}`;
    return [auth(`lambda:${action}`, fn)];
  }
  return [auth(`lambda:${method} ${pathname}`, "*")];
}

// JSON protocols (X-Amz-Target) ----------------------------------------------------------------------

type Json = Record<string, unknown>;

function jsonBody(body: Buffer | undefined): Json {
  try {
    const v: unknown = JSON.parse(body?.toString("utf8") || "{}");
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
  } catch {
    return {};
  }
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const obj = (v: unknown): Json => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});

/** The actions AWS authorizes a batch call as. */
const batchActions: Record<string, string> = {
  SendMessageBatch: "SendMessage", DeleteMessageBatch: "DeleteMessage", ChangeMessageVisibilityBatch: "ChangeMessageVisibility",
  PublishBatch: "Publish",
};

function jsonCall(service: string, target: string, body: Json, ctx: Ctx): Authorization[] {
  const op = target.slice(target.lastIndexOf(".") + 1);
  switch (service) {
    case "dynamodb": return dynamodb(op, body, ctx);
    case "sqs": return [auth(`sqs:${batchActions[op] ?? op}`, queueArn(body, ctx))];
    case "ssm": return ssm(op, body, ctx);
    case "kms": {
      const id = str(body.KeyId);
      const resource = id === undefined ? "*" : id.startsWith("arn:") ? id : `arn:aws:kms:${ctx.region}:${ctx.account}:${id.startsWith("alias/") ? id : `key/${id}`}`;
      return [auth(`kms:${op}`, resource)];
    }
    case "logs": {
      const group = str(body.logGroupName);
      const stream = str(body.logStreamName);
      const resource = group === undefined ? "*" : `arn:aws:logs:${ctx.region}:${ctx.account}:log-group:${group}${stream === undefined ? "" : `:log-stream:${stream}`}`;
      return [auth(`logs:${op}`, resource)];
    }
    default: return [auth(`${service}:${op}`, "*")];
  }
}

function dynamodb(op: string, body: Json, ctx: Ctx): Authorization[] {
  const tableArn = (name: string) => (name.startsWith("arn:") ? name : `arn:aws:dynamodb:${ctx.region}:${ctx.account}:table/${name}`);
  // dynamodb:LeadingKeys is the partition key's value: known here when the Key has that one attribute.
  const leading = (key: unknown): Record<string, string[]> => {
    const attrs = Object.values(obj(key));
    const value = attrs.length === 1 ? Object.values(obj(attrs[0]))[0] : undefined;
    return typeof value === "string" ? { "dynamodb:LeadingKeys": [value] } : {};
  };
  const item = (action: string, spec: Json) => auth(`dynamodb:${action}`, tableArn(str(spec.TableName) ?? "*"), leading(spec.Key));
  switch (op) {
    case "GetItem": case "PutItem": case "UpdateItem": case "DeleteItem": return [item(op, body)];
    case "Query": case "Scan": {
      const index = str(body.IndexName);
      return [auth(`dynamodb:${op}`, tableArn(str(body.TableName) ?? "*") + (index === undefined ? "" : `/index/${index}`))];
    }
    case "BatchGetItem": case "BatchWriteItem":
      return Object.keys(obj(body.RequestItems)).map((t) => auth(`dynamodb:${op}`, tableArn(t)));
    case "TransactWriteItems": case "TransactGetItems": {
      const kinds: Record<string, string> = { Put: "PutItem", Update: "UpdateItem", Delete: "DeleteItem", ConditionCheck: "ConditionCheckItem", Get: "GetItem" };
      const items = Array.isArray(body.TransactItems) ? body.TransactItems : [];
      return items.flatMap((t) => Object.entries(obj(t)).filter(([k]) => kinds[k]).map(([k, spec]) => item(kinds[k]!, obj(spec))));
    }
    case "ListTables": case "DescribeLimits": case "DescribeEndpoints": return [auth(`dynamodb:${op}`, "*")];
    default: return [auth(`dynamodb:${op}`, tableArn(str(body.TableName) ?? "*"))];
  }
}

function ssm(op: string, body: Json, ctx: Ctx): Authorization[] {
  const parameterArn = (name: string) => (name.startsWith("arn:") ? name : `arn:aws:ssm:${ctx.region}:${ctx.account}:parameter/${name.replace(/^\//, "")}`);
  if (op === "GetParameters" || op === "DeleteParameters") {
    const names = Array.isArray(body.Names) ? body.Names.filter((n): n is string => typeof n === "string") : [];
    return names.map((n) => auth(`ssm:${op}`, parameterArn(n)));
  }
  const name = str(body.Name) ?? str(body.Path);
  return [auth(`ssm:${op}`, name === undefined ? "*" : parameterArn(name))];
}

function queueArn(p: { QueueUrl?: unknown; QueueName?: unknown }, ctx: Ctx, pathname = ""): string {
  // A queue URL ends in /<account>/<name>, on AWS and on moto alike; queue calls can name it in the path.
  const url = str(p.QueueUrl) ?? pathname;
  const m = /\/(\d{12})\/([^/?]+)\/?$/.exec(url);
  if (m) return `arn:aws:sqs:${ctx.region}:${m[1]}:${m[2]}`;
  const name = str(p.QueueName);
  return name === undefined ? "*" : `arn:aws:sqs:${ctx.region}:${ctx.account}:${name}`;
}

// Query protocols (Action=) ----------------------------------------------------------------------------

function queryCall(service: string, pathname: string, params: Params, ctx: Ctx): Authorization[] {
  const p = (name: string) => params[name]?.[0];
  const action = p("Action");
  if (action === undefined) return [auth(`${service}:?`, "*")];
  switch (service) {
    case "sqs": return [auth(`sqs:${batchActions[action] ?? action}`, queueArn({ QueueUrl: p("QueueUrl"), QueueName: p("QueueName") }, ctx, pathname))];
    case "sns": return [auth(`sns:${batchActions[action] ?? action}`, p("TopicArn") ?? p("TargetArn") ?? "*")];
    case "autoscaling": {
      const group = p("AutoScalingGroupName") ?? (action === "TerminateInstanceInAutoScalingGroup" ? ctx.instanceGroup(p("InstanceId") ?? "") : undefined);
      const known = group !== undefined && !action.startsWith("Describe");
      // A group's ARN carries a random id that policies match with *; any id stands in for it.
      return [auth(`autoscaling:${action}`, known ? `arn:aws:autoscaling:${ctx.region}:${ctx.account}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/${group}`
        : action === "TerminateInstanceInAutoScalingGroup" ? `(the group of instance ${p("InstanceId") ?? "?"}, unknown)` : "*")];
    }
    // AWS answers GetCallerIdentity whatever the policies say, even with an explicit deny.
    case "sts": return action === "GetCallerIdentity" ? [] : [auth(`sts:${action}`, action.startsWith("AssumeRole") ? (p("RoleArn") ?? "*") : "*")];
    case "iam": {
      const role = p("RoleName");
      return [auth(`iam:${action}`, role === undefined ? "*" : `arn:aws:iam::${ctx.account}:role/${role}`)];
    }
    default: return [auth(`${service}:${action}`, "*")];
  }
}
