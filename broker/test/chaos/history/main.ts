import { readFileSync } from "node:fs";
import { checkText, describe, resultLine } from "./check.js";

// Checks a history file on its own: node dist/broker/test/chaos/history/main.js <history.jsonl> [seconds]
// (seconds: the run's fault time, for the RESULT line; default the span of its faults). Prints the
// RESULT line last; exits 1 on any violation, 2 on a history it cannot read.

const file = process.argv[2];
if (!file) {
  console.error("usage: node dist/broker/test/chaos/history/main.js <history.jsonl>");
  process.exit(2);
}
try {
  const report = checkText(readFileSync(file, "utf8"));
  for (const line of describe(report, 20)) console.log(line);
  const starts = report.faults.map((f) => f.startedAt);
  const span = starts.length ? ((starts.at(-1) ?? 0) - (starts[0] ?? 0)) / 1000 : 0;
  const seconds = process.argv[3] === undefined ? span : Number(process.argv[3]);
  console.log(resultLine(report, seconds));
  process.exit(report.violations.length ? 1 : 0);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
}
