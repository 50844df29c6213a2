import { parseArgs } from "node:util";
import { runSeed, type SimResult } from "./simulation.js";

// `npm run sim -- --seeds 10000 [--start 1]` runs many seeds (odd seeds with --voters, default 3;
// even seeds with 5); `npm run sim -- --seed 42 [--voters 5] --verbose` replays one with a trace.
const usage = "usage: npm run sim -- [--seeds N] [--start S] | --seed S [--voters V] [--verbose]";

let values: { seeds: string; start: string; seed?: string | undefined; verbose: boolean; voters: string };
try {
  ({ values } = parseArgs({
    options: {
      seeds: { type: "string", default: "1000" },
      start: { type: "string", default: "1" },
      seed: { type: "string" },
      verbose: { type: "boolean", default: false },
      voters: { type: "string", default: "3" },
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

const voters = wholeNumber("voters", values.voters, 1);
if (values.seed !== undefined) {
  const seed = wholeNumber("seed", values.seed, 0);
  try {
    console.log(JSON.stringify(runSeed({ seed, voters, verbose: values.verbose })));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
} else {
  const start = wholeNumber("start", values.start, 0);
  const count = wholeNumber("seeds", values.seeds, 1);
  const began = Date.now();
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
    if ((seed - start + 1) % 100 === 0) {
      console.log(
        `${seed - start + 1}/${count} seeds green (${((Date.now() - began) / 1000).toFixed(0)} s, ${totals.committed} entries committed)`,
      );
    }
  }
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  console.log(`all ${count} seeds green: seeds ${start}..${start + count - 1} in ${seconds} s`);
  console.log(JSON.stringify(totals));
}
