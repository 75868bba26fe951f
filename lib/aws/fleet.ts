// The seedbox fleet's Auto Scaling group: the one adapter for @aws-sdk/client-auto-scaling.
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import type { AwsConfig } from "../config.ts";
import { clientDefaults } from "./clients.ts";
import type { GroupState } from "../scaling.ts";

export class FleetGroupMissing extends Error {
  override name = "FleetGroupMissing";
}

/** A client for the fleet, from the same region and endpoint as the other AWS clients. */
export function autoScalingClient(cfg: Pick<AwsConfig, "region" | "endpoint">, credentials?: { accessKeyId: string; secretAccessKey: string }): AutoScalingClient {
  return new AutoScalingClient(clientDefaults(cfg, credentials));
}

export class Fleet {
  private readonly client: AutoScalingClient;
  readonly group: string;
  constructor(client: AutoScalingClient, group: string) {
    this.client = client;
    this.group = group;
  }

  async describe(signal?: AbortSignal): Promise<GroupState> {
    const out = await this.client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.group] }), { abortSignal: signal });
    const g = out.AutoScalingGroups?.[0];
    if (!g) throw new FleetGroupMissing(`the Auto Scaling group ${this.group} does not exist`);
    return {
      desired: g.DesiredCapacity ?? 0,
      max: g.MaxSize ?? 0,
      inService: (g.Instances ?? []).filter((i) => i.LifecycleState === "InService").length,
    };
  }

  /** No cooldown: work is waiting now, and the rule never asks for more than it needs. */
  async setDesiredCapacity(n: number, signal?: AbortSignal): Promise<void> {
    await this.client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: this.group, DesiredCapacity: n, HonorCooldown: false }), { abortSignal: signal });
  }

  async setInstanceProtection(instanceId: string, on: boolean, signal?: AbortSignal): Promise<void> {
    await this.client.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: this.group, InstanceIds: [instanceId], ProtectedFromScaleIn: on }), { abortSignal: signal });
  }

  /** Ends this instance and lowers the desired capacity with it, so the group does not replace it. */
  async terminateSelf(instanceId: string, signal?: AbortSignal): Promise<void> {
    await this.client.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: true }), { abortSignal: signal });
  }
}
