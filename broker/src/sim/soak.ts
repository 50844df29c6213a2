import { parseArgs } from "node:util";
import { runSeed, type SimResult } from "../raft/sim/simulation.js";
import { addTotals, emptyTotals, runStackSeed } from "./stack-sim.js";

// `npm run sim -- [--stack core|full] --seeds N [--start S]` runs many seeds; `--seed S --verbose`
// replays one with its trace. core: the Raft core alone (odd seeds with --voters, default 3; even
// seeds with 5). full: the production stack (stack-sim.ts); it prints one line last,
// `RESULT sim stack=full seeds=N crashes=C snapshots=S violations=V`, and exits 1 on any violation.
const usage =
  "usage: npm run sim -- [--stack core|full] [--seeds N] [--start S] | --seed S [--voters V] [--verbose] [--no-amnesia] [--fault-ms MS]";

let values: {
  stack: string;
  seeds: string;
  start: string;
  seed?: string | undefined;
  verbose: boolean;
  voters: string;
  "no-amnesia": boolean;
  "fault-ms"?: string | undefined;
};
try {
  ({ values } = parseArgs({
    options: {
      stack: { type: "string", default: "core" },
      seeds: { type: "string", default: "1000" },
      start: { type: "string", default: "1" },
      seed: { type: "string" },
      verbose: { type: "boolean", default: false },
      voters: { type: "string", default: "3" },
      // Disk loss is on by default; this turns it off (Node 20's parseArgs has no --no- negation).
      "no-amnesia": { type: "boolean", default: false },
      "fault-ms": { type: "string" },
    },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}

function wholeNumber(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} takes a whole number >= ${min}, got "${text}"\n${usage}`);
    process.exit(2);
  }
  return n;
}

if (values.stack !== "core" && values.stack !== "full") {
  console.error(`--stack is core or full, got "${values.stack}"\n${usage}`);
  process.exit(2);
}
const voters = wholeNumber("voters", values.voters, 1);
const faultMs =
  values["fault-ms"] !== undefined ? wholeNumber("fault-ms", values["fault-ms"], 100) : undefined;
const stackOptions = (seed: number) => ({
  seed,
  amnesia: !values["no-amnesia"],
  ...(faultMs !== undefined ? { faultMs } : {}),
});

if (values.seed !== undefined) {
  const seed = wholeNumber("seed", values.seed, 0);
  try {
    const r =
      values.stack === "full"
        ? await runStackSeed({ ...stackOptions(seed), verbose: values.verbose })
        : runSeed({ seed, voters, verbose: values.verbose });
    console.log(JSON.stringify(r));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
  process.exit(0);
}

const start = wholeNumber("start", values.start, 0);
const count = wholeNumber("seeds", values.seeds, 1);
const began = Date.now();
const elapsed = () => `${((Date.now() - began) / 1000).toFixed(0)} s`;

if (values.stack === "core") {
  const totals = {
    committed: 0,
    proposalsLost: 0,
    leaderElections: 0,
    crashes: 0,
    crashesMidWrite: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsSent: 0,
  };
  const add = (r: SimResult) => {
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r[k];
  };
  for (let seed = start; seed < start + count; seed++) {
    try {
      add(runSeed({ seed, voters: seed % 2 === 0 ? 5 : voters }));
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
    if ((seed - start + 1) % 100 === 0)
      console.log(
        `${seed - start + 1}/${count} seeds green (${elapsed()}, ${totals.committed} entries committed)`,
      );
  }
  console.log(`all ${count} seeds green: seeds ${start}..${start + count - 1} in ${elapsed()}`);
  console.log(JSON.stringify(totals));
  process.exit(0);
}

const totals = emptyTotals();
const failed: number[] = [];
for (let seed = start; seed < start + count; seed++) {
  try {
    addTotals(totals, await runStackSeed(stackOptions(seed)));
  } catch (err) {
    failed.push(seed);
    // The first failures in full (seed, trace); later ones by their first line.
    const message = (err as Error).message;
    console.error(failed.length <= 3 ? message : `seed ${seed}: ${message.split("\n")[0]}`);
  }
  if ((seed - start + 1) % 25 === 0)
    console.log(
      `${seed - start + 1}/${count} seeds (${elapsed()}, ${failed.length} with violations, ${totals.acked} publishes acknowledged)`,
    );
}
console.log(JSON.stringify(totals));
if (failed.length > 0) console.log(`seeds with violations: ${failed.join(" ")}`);
console.log(
  `RESULT sim stack=full seeds=${count} crashes=${totals.crashes} snapshots=${totals.snapshots} violations=${failed.length}`,
);
process.exit(failed.length > 0 ? 1 : 0);
