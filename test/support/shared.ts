// The one test stack of a test run (files share a process under --test-isolation=none), stopped
// when every test has run.
import { after } from "node:test";
import { startTestStack, type TestStack } from "./stack.ts";

let shared: Promise<TestStack> | null = null;

export function testStack(): Promise<TestStack> {
  shared ??= startTestStack();
  return shared;
}

after(async () => {
  if (shared) await (await shared).stop();
});
