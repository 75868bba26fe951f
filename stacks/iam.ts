// IAM helpers: a role for one AWS service, with one inline least-privilege policy.
import { Construct } from "constructs";
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";

/** The ARN of an SSM parameter (names start with "/"). */
export const ssmParameterArn = (w: { partition: string; region: string; account: string }, name: string) =>
  `arn:${w.partition}:ssm:${w.region}:${w.account}:parameter${name}`;

export interface Grant {
  sid: string;
  actions: string[];
  resources: string[];
  condition?: DataAwsIamPolicyDocumentStatement["condition"];
}

/** An explicit deny of the actions on everything but the resources named: it wins over any allow. */
export interface Denial {
  sid: string;
  actions: string[];
  exceptOn: string[];
}

export class ServiceRole extends Construct {
  readonly role: IamRole;
  constructor(scope: Construct, id: string, props: { name: string; service: string; grants: Grant[]; denials?: Denial[] }) {
    super(scope, id);
    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      statement: [{ effect: "Allow", actions: ["sts:AssumeRole"], principals: [{ type: "Service", identifiers: [props.service] }] }],
    });
    this.role = new IamRole(this, "role", { name: props.name, assumeRolePolicy: trust.json });
    const doc = new DataAwsIamPolicyDocument(this, "policy-document", {
      statement: [
        ...props.grants.map((g) => ({ sid: g.sid, effect: "Allow", actions: g.actions, resources: g.resources, ...(g.condition ? { condition: g.condition } : {}) })),
        ...(props.denials ?? []).map((d) => ({ sid: d.sid, effect: "Deny", actions: d.actions, notResources: d.exceptOn })),
      ],
    });
    new IamRolePolicy(this, "policy", { name: `${props.name}-least-privilege`, role: this.role.id, policy: doc.json });
  }
}
