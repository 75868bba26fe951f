// `npm run rehearse`: wiring only (scripts/rehearse/run.ts does the work). The last line is one JSON
// object. Ctrl-C stops the containers and daemons it started before it exits.
import { rehearse } from "./rehearse/run.ts";

const stop = new AbortController();
// Kept registered (not once): scripts/local/proc.ts exits at a signal nobody else listens for. A second one exits.
for (const s of ["SIGINT", "SIGTERM"] as const) {
  process.on(s, () => (stop.signal.aborted ? process.exit(130) : stop.abort(new Error(`stopped by ${s}`))));
}
try {
  const summary = await rehearse({ log: (line) => process.stderr.write(`rehearse: ${line}\n`), signal: stop.signal });
  console.log(JSON.stringify(summary));
  process.exitCode = summary.failures.length === 0 ? 0 : 1;
} catch (err) {
  process.stderr.write(`rehearse: ${stop.signal.aborted ? "stopped, everything it started is gone" : "failed"}: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
// Everything it started is stopped by now; a stand-in's wait that nobody needs any more must not hold the exit.
process.exit();
