// Judging recorded calls against a role's policies (scripts/rehearse/iam.ts evaluateCalls), shaped like
// the stack's: conditions on condition keys, an explicit deny with NotResource, wildcard-only actions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evaluateCalls, type RecordedCall, type RolePolicy } from "../../scripts/rehearse/iam.ts";

const account = "123456789012";
const roleArn = `arn:aws:iam::${account}:role/t2s-seedbox`;
const table = `arn:aws:dynamodb:us-east-1:${account}:table/t2s-jobs`;
const param = (name: string) => `arn:aws:ssm:us-east-1:${account}:parameter/t2s/${name}`;
const policies: RolePolicy[] = [{
  name: "grants",
  document: {
    Statement: [
      { Sid: "MonthTotals", Effect: "Allow", Action: "dynamodb:UpdateItem", Resource: table, Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["usage#*"] } } },
      { Sid: "List", Effect: "Allow", Action: "s3:ListBucket", Resource: "arn:aws:s3:::bkt", Condition: { StringLike: { "s3:prefix": ["files/*"] } } },
      { Sid: "Describe", Effect: "Allow", Action: ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances"], Resource: "*" },
      { Sid: "Reads", Effect: "Allow", Action: "ssm:GetParameters", Resource: "*" },
      { Sid: "NoOtherParameters", Effect: "Deny", Action: "ssm:GetParameters", NotResource: [param("seedbox-*")] },
    ],
  },
}];
const call = (action: string, resource: string, context: RecordedCall["context"] = {}): RecordedCall =>
  ({ roleArn, principalArn: `arn:aws:sts::${account}:assumed-role/t2s-seedbox/i-1`, action, resource, context, count: 1, statuses: [200] });

describe("evaluating recorded calls", () => {
  it("honours conditions, explicit denies and wildcard-only actions; unknown actions are unevaluated, not allowed", async () => {
    const e = await evaluateCalls([
      call("dynamodb:UpdateItem", table, { "dynamodb:LeadingKeys": ["usage#2026-12"] }),
      call("dynamodb:UpdateItem", table, { "dynamodb:LeadingKeys": ["0123abcd"] }),
      call("s3:ListBucket", "arn:aws:s3:::bkt", { "s3:prefix": "files/x/" }),
      call("s3:ListBucket", "arn:aws:s3:::bkt", { "s3:prefix": "incoming/" }),
      call("autoscaling:DescribeAutoScalingGroups", "*"),
      call("ssm:GetParameters", param("seedbox-token")),
      call("ssm:GetParameters", param("api-token")),
      call("sqs:NoSuchAction", "*"),
    ], new Map([[roleArn, policies]]));
    assert.equal(e.calls, 8);
    assert.equal(e.allowed, 4);
    assert.deepEqual(e.denied.map((f) => [f.decision, f.action, f.resource, f.context]), [
      ["ImplicitlyDenied", "dynamodb:UpdateItem", table, { "dynamodb:LeadingKeys": ["0123abcd"] }],
      ["ImplicitlyDenied", "s3:ListBucket", "arn:aws:s3:::bkt", { "s3:prefix": "incoming/" }],
      ["ExplicitlyDenied", "ssm:GetParameters", param("api-token")],
      ["Unevaluated", "sqs:NoSuchAction", "*", {}],
    ].map(([d, a, r, c = {}]) => [d, a, r, c]));
    assert.match(e.denied[3]!.reason!, /action/);
    // Deny statements grant nothing, so they are never listed as unused.
    assert.deepEqual(e.unusedGrants.map((g) => `${g.statement} ${g.action} ${g.resource}`), ["Describe autoscaling:DescribeAutoScalingInstances *"]);
  });

  it("lists every grant of a role that made no call", async () => {
    const e = await evaluateCalls([], new Map([[roleArn, policies]]));
    assert.equal(e.unusedGrants.length, 5);
    assert.deepEqual(e.unusedGrants[0], { roleArn, policy: "grants", statement: "MonthTotals", action: "dynamodb:UpdateItem", resource: table });
  });
});
