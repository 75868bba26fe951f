// One Node Lambda of this project: its log group (kept as the deploy setting says), a role with only its own grants plus
// log writing, and the function from a bundle (arm64, the project's runtime).
import { Fn, type TerraformAsset } from "cdktf";
import type { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group/index.js";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function/index.js";
import { LambdaFunctionUrl } from "@cdktf/provider-aws/lib/lambda-function-url/index.js";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission/index.js";
import { ServiceRole, type Grant } from "./iam.ts";

export const lambdaRuntime = "nodejs22.x";

/** Constructs go straight into `scope` under `id`, `${id}-logs` and `${id}-role`, as they always have. */
export function nodeFunction(scope: Construct, id: string, o: {
  name: string; handler: string; bundle: TerraformAsset; timeout: number; memory: number; grants: Grant[]; env: Record<string, string>;
  /** Days the log group keeps lines (a number or a terraform variable). */
  logRetentionDays: number;
  /** Reserved concurrency (a number or a terraform variable; -1: none reserved). Absent: none. */
  reservedConcurrency?: number | undefined;
}): LambdaFunction {
  const logs = new CloudwatchLogGroup(scope, `${id}-logs`, { name: `/aws/lambda/${o.name}`, retentionInDays: o.logRetentionDays });
  const role = new ServiceRole(scope, `${id}-role`, {
    name: o.name,
    service: "lambda.amazonaws.com",
    grants: [{ sid: "Logs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`${logs.arn}:*`] }, ...o.grants],
  });
  return new LambdaFunction(scope, id, {
    functionName: o.name,
    role: role.role.arn,
    runtime: lambdaRuntime,
    architectures: ["arm64"],
    handler: o.handler,
    filename: o.bundle.path,
    sourceCodeHash: Fn.filebase64sha256(o.bundle.path),
    memorySize: o.memory,
    timeout: o.timeout,
    environment: { variables: o.env },
    ...(o.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: o.reservedConcurrency } : {}),
    dependsOn: [logs],
  });
}

/**
 * A function URL with auth NONE, for callers that cannot sign AWS requests, and the grants it needs:
 * lambda:InvokeFunctionUrl for anyone (FunctionUrlAuthType NONE), and, since October 2025,
 * lambda:InvokeFunction for anyone too. AWS can limit the latter to URL calls
 * (lambda:InvokedViaFunctionUrl), which provider 5.100 cannot say: anyone may invoke the function
 * directly, so its handler must take function-URL events only. Constructs go under `id`,
 * `${id}-permission` and `${id}-invoke-permission`.
 */
export function publicFunctionUrl(scope: Construct, id: string, fn: LambdaFunction): LambdaFunctionUrl {
  const url = new LambdaFunctionUrl(scope, id, { functionName: fn.functionName, authorizationType: "NONE" });
  new LambdaPermission(scope, `${id}-permission`, {
    statementId: "FunctionUrlPublic", action: "lambda:InvokeFunctionUrl", functionName: fn.functionName,
    principal: "*", functionUrlAuthType: "NONE",
  });
  new LambdaPermission(scope, `${id}-invoke-permission`, {
    statementId: "FunctionUrlPublicInvoke", action: "lambda:InvokeFunction", functionName: fn.functionName, principal: "*",
  });
  return url;
}
