// `npm run rehearse`: wiring only (scripts/rehearse/run.ts does the work). The last line is one JSON
// object. Ctrl-C stops the containers and daemons it started before it exits.
import { rehearse } from "./rehearse/run.ts";

const stop = new AbortController();
for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => stop.abort(new Error(`stopped by ${s}`)));
const summary = await rehearse({ log: (line) => process.stderr.write(`rehearse: ${line}\n`), signal: stop.signal });
console.log(JSON.stringify(summary));
process.exitCode = summary.failures.length === 0 ? 0 : 1;
