// Alarms an owner hears about, all on one SNS topic (with an optional e-mail subscription): a dead
// letter on any queue, a Lambda's errors, and a job still open past a bound (the sweeper logs it; a
// metric filter counts those lines). Each alarm's description says what to do; docs/aws.md has the runbook.
// With a monthly budget and an e-mail, an AWS Budgets budget e-mails when the account's month passes it.
// Nothing here costs while all is well: a metric filter publishes only on a matching line, and the first
// two budgets of an account are free.
import { Fn } from "cdktf";
import { Construct } from "constructs";
import { BudgetsBudget } from "@cdktf/provider-aws/lib/budgets-budget/index.js";
import { CloudwatchLogMetricFilter } from "@cdktf/provider-aws/lib/cloudwatch-log-metric-filter/index.js";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm/index.js";
import type { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function/index.js";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic/index.js";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription/index.js";
import type { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue/index.js";
import { stuckJobMessage } from "../lib/job-record.ts";

export interface MonitoringProps {
  name: string;
  /** "" for none (may be a terraform variable). */
  alarmEmail: string;
  /** Every dead-letter queue, by a short label for the alarm's name. */
  deadLetters: Record<string, SqsQueue>;
  functions: LambdaFunction[];
  /** The sweeper, whose log group carries the "open past the bound" lines. */
  sweep: LambdaFunction;
  /** The month's budget in USD ("" for none; may be a terraform variable). */
  monthlyBudgetUsd?: string;
}

export class Monitoring extends Construct {
  readonly topic: SnsTopic;

  constructor(scope: Construct, id: string, p: MonitoringProps) {
    super(scope, id);
    this.topic = new SnsTopic(this, "topic", { name: `${p.name}-alarms` });
    new SnsTopicSubscription(this, "email", {
      topicArn: this.topic.arn,
      protocol: "email",
      endpoint: p.alarmEmail,
      // Not Op.eq(x, ""): cdktf renders that "" as `undefined`.
      count: Fn.min([1, Fn.lengthOf(p.alarmEmail)]),
    });
    const alarm = (id: string, o: { alarmName: string; alarmDescription: string; namespace: string; metricName: string; dimensions?: Record<string, string>; statistic: string }) =>
      new CloudwatchMetricAlarm(this, id, {
        ...o,
        period: 300,
        evaluationPeriods: 1,
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
        // No data is good news: an idle stack publishes no Lambda or filter metric.
        treatMissingData: "notBreaching",
        alarmActions: [this.topic.arn],
        okActions: [this.topic.arn],
      });

    for (const [label, dlq] of Object.entries(p.deadLetters)) {
      alarm(`dead-letters-${label}`, {
        alarmName: `${p.name}-${label}-dead-letters`,
        alarmDescription: `A message reached ${label}'s dead-letter queue (it failed every try). Read it, fix the cause, then redrive it (docs/aws.md, "Alarms").`,
        namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: dlq.name }, statistic: "Maximum",
      });
    }
    p.functions.forEach((fn, i) => {
      alarm(`errors-${i}`, {
        alarmName: `${fn.functionName}-errors`,
        alarmDescription: "The function failed (an error or a timeout). Its log group /aws/lambda/<function> says why (docs/aws.md, \"Alarms\").",
        namespace: "AWS/Lambda", metricName: "Errors", dimensions: { FunctionName: fn.functionName }, statistic: "Sum",
      });
    });

    if (p.monthlyBudgetUsd !== undefined) {
      // Only with an e-mail and a budget above 0 (coalesce skips ""; signum takes whole numbers only,
      // hence ceil). The account's whole cost, not this stack's: a filter on the stack's tag would see
      // nothing until the owner activates it as a cost allocation tag, and stay silent.
      new BudgetsBudget(this, "budget", {
        count: Fn.min([1, Fn.lengthOf(p.alarmEmail), Fn.signum(Fn.ceil(Fn.tonumber(Fn.coalesce([p.monthlyBudgetUsd, "0"]))))]),
        name: `${p.name}-monthly`,
        budgetType: "COST", timeUnit: "MONTHLY", limitAmount: p.monthlyBudgetUsd, limitUnit: "USD",
        notification: [{ notificationType: "ACTUAL", comparisonOperator: "GREATER_THAN", threshold: 100, thresholdType: "PERCENTAGE", subscriberEmailAddresses: [p.alarmEmail] }],
      });
    }

    const namespace = `torrent2s3/${p.name}`;
    new CloudwatchLogMetricFilter(this, "stuck-filter", {
      name: `${p.name}-jobs-open-past-bound`,
      logGroupName: `/aws/lambda/${p.sweep.functionName}`,
      pattern: `{ $.msg = "${stuckJobMessage}" }`,
      // No default value: the metric exists (and bills) only in hours with such a line.
      metricTransformation: { name: "JobsOpenPastBound", namespace, value: "1" },
      // The function's log group is created before the function.
      dependsOn: [p.sweep],
    });
    alarm("stuck-jobs", {
      alarmName: `${p.name}-jobs-open-past-bound`,
      alarmDescription: "A job is still open long after it was handed in. Find its id in the sweeper's log, then inspect or cancel it (docs/aws.md, \"Alarms\").",
      namespace, metricName: "JobsOpenPastBound", statistic: "Sum",
    });
  }
}
