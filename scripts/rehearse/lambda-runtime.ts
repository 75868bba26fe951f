// One Lambda instance (started by lambda.ts): imports the handler module once, as Lambda's Node runtime
// does at init, then runs one event at a time, each received over IPC, and sends back its result or error.
// argv: the task folder, the handler string ("dir/index.handler": module up to the first dot of the
// last path part, then a property path).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

type Handler = (event: unknown, context: object) => unknown;
interface Invoke { id: string; event: unknown; deadline: number; arn: string }

const send = (msg: object) => new Promise<void>((resolve) => process.send!(msg, () => resolve()));

function errorOf(err: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  const e = err instanceof Error ? err : new Error(String(err));
  return { errorType: e.name, errorMessage: e.message, trace: (e.stack ?? "").split("\n") };
}

async function load(taskRoot: string, handlerString: string): Promise<Handler> {
  const slash = handlerString.lastIndexOf("/");
  const [dir, base] = [handlerString.slice(0, slash + 1), handlerString.slice(slash + 1)];
  const dot = base.indexOf(".");
  if (dot < 1) throw Object.assign(new Error(`Bad handler ${handlerString}`), { name: "Runtime.MalformedHandlerName" });
  const stem = join(taskRoot, dir, base.slice(0, dot));
  // Lambda's Node runtime tries these extensions in this order.
  const file = [".js", ".mjs", ".cjs"].map((ext) => stem + ext).find((f) => existsSync(f));
  if (!file) throw Object.assign(new Error(`Cannot find module '${dir}${base.slice(0, dot)}'`), { name: "Runtime.ImportModuleError" });
  let fn: unknown = await import(pathToFileURL(file).href);
  for (const key of base.slice(dot + 1).split(".")) fn = (fn as Record<string, unknown> | undefined)?.[key];
  if (typeof fn !== "function") throw Object.assign(new Error(`${handlerString} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  return fn as Handler;
}

const [taskRoot, handlerString] = process.argv.slice(2) as [string, string];
const started = performance.now();
let handler: Handler;
try {
  handler = await load(taskRoot, handlerString);
} catch (err) {
  await send({ type: "initError", error: errorOf(err) });
  process.exit(1);
}
await send({ type: "ready", initMs: performance.now() - started });

process.on("message", async (m: Invoke) => {
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: "$LATEST",
    invokedFunctionArn: m.arn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: m.id,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, m.deadline - Date.now()),
  };
  try {
    const result = await handler(m.event, context);
    // Lambda returns what JSON.stringify makes of the result.
    await send({ type: "result", id: m.id, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
  } catch (err) {
    await send({ type: "error", id: m.id, error: errorOf(err) });
  }
});
