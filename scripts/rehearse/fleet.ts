// The Auto Scaling group as EC2 runs it, mirrored from moto's: each instance moto puts in service (after
// SetDesiredCapacity) boots as a Debian system container running the launch template's user data, with
// a metadata stand-in serving its instance id and its instance profile's role credentials. When moto
// ends the instance (the seedbox's own termination with decrement, a scale-in, a replacement), the
// container stops. moto launches instances at once, so what is timed here starts at the container.
import { DescribeAutoScalingGroupsCommand, TerminateInstanceInAutoScalingGroupCommand, type AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { sleep } from "../../lib/time.ts";
import { bootInstance, type Instance, type JournalEntry } from "./container.ts";
import { startImds, type Imds } from "./imds.ts";
import type { SessionKeys } from "./lambda.ts";
import type { Query } from "./query.ts";

export interface FleetInstance {
  id: string;
  instance: Instance;
  imds: Imds;
  /** Set once moto no longer lists the instance in service and the container was stopped. */
  endedAt?: number;
}

export interface FleetStandIn {
  instances: FleetInstance[];
  /** Why an instance could not boot or its user data failed, as they happen. */
  failures: string[];
  /** Desired capacity and the containers running, as of the last look. */
  state(): { desired: number; running: number };
  /** The instance dies under its jobs (host loss): the container is killed and the group replaces it. */
  kill(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface FleetOptions {
  autoscaling: AutoScalingClient;
  group: string;
  region: string;
  /** A raw EC2/IAM query to moto (the SDK has no EC2 client in this project): returns the XML text. */
  query: Query;
  credentialsFor(roleArn: string): Promise<SessionKeys>;
  rootfs: string;
  /** The host's loopback ports every instance reaches (moto, the stand-ins, the seeder). */
  forward: number[];
  allowHosts: string[];
  /** The rehearsal's endpoints, handed to the user data (T2S_IMDS_URL is added per instance). */
  env: Record<string, string>;
  onEntry?: (id: string, e: JournalEntry) => void;
  log: (line: string) => void;
  pollMs?: number;
}

/** The seedbox service's line that ends a boot. */
export const isSeedboxRunning = (e: JournalEntry) => e.unit === "t2s-seedbox.service" && /"msg":"seedbox running"/.test(e.msg);

const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

/** The launch template's user data and role, as moto holds them. */
async function launchConfig(o: FleetOptions, template: { LaunchTemplateId?: string; LaunchTemplateName?: string; Version?: string }): Promise<{ userData: string; roleArn: string; roleName: string }> {
  const versions = await o.query("ec2", {
    Action: "DescribeLaunchTemplateVersions", Version: "2016-11-15",
    ...(template.LaunchTemplateId ? { LaunchTemplateId: template.LaunchTemplateId } : { LaunchTemplateName: template.LaunchTemplateName ?? "" }),
    "LaunchTemplateVersion.1": template.Version ?? "$Latest",
  });
  const userData = tag(versions, "userData");
  if (!userData) throw new Error(`the launch template ${template.LaunchTemplateId ?? template.LaunchTemplateName} has no user data`);
  const profile = /<iamInstanceProfile>([\s\S]*?)<\/iamInstanceProfile>/.exec(versions)?.[1] ?? "";
  const profileName = tag(profile, "name") ?? tag(profile, "arn")?.split("/").pop();
  if (!profileName) throw new Error("the launch template names no instance profile");
  const p = await o.query("iam", { Action: "GetInstanceProfile", Version: "2010-05-08", InstanceProfileName: profileName });
  const roleArn = tag(p, "Arn")?.includes(":role/") ? tag(p, "Arn")! : (/<Arn>(arn:[^<]*:role\/[^<]*)<\/Arn>/.exec(p)?.[1] ?? "");
  if (!roleArn) throw new Error(`the instance profile ${profileName} has no role`);
  return { userData: Buffer.from(userData, "base64").toString("utf8"), roleArn, roleName: roleArn.split("/").pop()! };
}

export function startFleet(o: FleetOptions): FleetStandIn {
  const instances: FleetInstance[] = [];
  const failures: string[] = [];
  const byId = new Map<string, FleetInstance | "booting">();
  let desired = 0;
  let closed = false;
  const stop = new AbortController();

  const boot = async (id: string, template: Parameters<typeof launchConfig>[1]) => {
    byId.set(id, "booting");
    const cfg = await launchConfig(o, template);
    const creds = await o.credentialsFor(cfg.roleArn);
    const imds = await startImds({ instanceId: id, region: o.region, role: { name: cfg.roleName, ...creds, sessionToken: creds.sessionToken ?? "" } });
    o.log(`instance ${id} in service: booting its container`);
    const instance = await bootInstance({
      id, rootfs: o.rootfs, userData: cfg.userData,
      forward: [...o.forward, Number(new URL(imds.url).port)],
      allowHosts: o.allowHosts,
      env: { ...o.env, T2S_IMDS_URL: imds.url },
      ...(o.onEntry ? { onEntry: (e: JournalEntry) => o.onEntry!(id, e) } : {}),
    }).catch(async (err) => {
      await imds.close();
      throw err;
    });
    instance.setup.catch((err: Error) => failures.push(err.message));
    const member: FleetInstance = { id, instance, imds };
    instances.push(member);
    byId.set(id, member);
  };

  const end = async (member: FleetInstance, hard: boolean) => {
    if (member.endedAt) return;
    member.endedAt = Date.now();
    o.log(`instance ${member.id} ${hard ? "killed" : "terminated"}: stopping its container`);
    await member.instance.stop({ hard });
    await member.imds.close();
  };

  const look = async () => {
    const g = (await o.autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [o.group] }))).AutoScalingGroups?.[0];
    if (!g) throw new Error(`the group ${o.group} is not in moto`);
    desired = g.DesiredCapacity ?? 0;
    const template = g.LaunchTemplate ?? g.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification ?? {};
    const live = new Set<string>();
    for (const i of g.Instances ?? []) {
      if (i.LifecycleState !== "InService" && i.LifecycleState !== "Pending") continue;
      live.add(i.InstanceId!);
      if (!byId.has(i.InstanceId!)) {
        boot(i.InstanceId!, template).catch((err) => failures.push(`instance ${i.InstanceId} did not boot: ${(err as Error).message}`));
      }
    }
    for (const m of instances) if (!live.has(m.id) && !m.endedAt) await end(m, false);
  };

  const loop = (async () => {
    while (!stop.signal.aborted) {
      await look().catch((err) => { if (!closed) o.log(`fleet stand-in: ${(err as Error).message}`); });
      await sleep(o.pollMs ?? 1_000, stop.signal).catch(() => {});
    }
  })();

  return {
    instances,
    failures,
    state: () => ({ desired, running: instances.filter((m) => !m.endedAt).length }),
    kill: async (id) => {
      const member = instances.find((m) => m.id === id);
      if (!member) throw new Error(`no container for ${id}`);
      await end(member, true);
      // EC2's health check finds it gone; the group replaces it (the desired capacity stays).
      await o.autoscaling.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: id, ShouldDecrementDesiredCapacity: false }));
    },
    close: async () => {
      closed = true;
      stop.abort();
      await loop;
      await Promise.all(instances.map((m) => end(m, false)));
    },
  };
}
