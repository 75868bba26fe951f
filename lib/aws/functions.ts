// Lambda functions as the owner's tools touch them: a configuration change that retires the warm
// instances, so the next call starts fresh and reads its parameters again (after a rotation).
import { GetFunctionConfigurationCommand, UpdateFunctionConfigurationCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { sleep } from "../time.ts";

/** Sets the description (the next deploy clears it again, a harmless diff) and waits until the update has taken effect. */
export async function refreshFunction(lambda: LambdaClient, name: string, description: string, timeoutMs = 60_000): Promise<void> {
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: description }));
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    if (c.LastUpdateStatus !== "InProgress") {
      if (c.LastUpdateStatus === "Failed") throw new Error(`${name}: the update failed (${c.LastUpdateStatusReason ?? "no reason given"})`);
      return;
    }
    if (Date.now() > until) throw new Error(`${name}: the update is still in progress after ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}
