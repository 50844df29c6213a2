import { parseArgs } from "node:util";
import { runSeed } from "./simulation.js";

// `npm run sim -- --seeds 10000 [--start 1]` or `npm run sim -- --seed 42 --verbose`.
const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1000" },
    start: { type: "string", default: "1" },
    seed: { type: "string" },
    verbose: { type: "boolean", default: false },
    voters: { type: "string", default: "3" },
  },
});

const voters = Number(values.voters);
if (values.seed !== undefined) {
  const result = runSeed({ seed: Number(values.seed), voters, verbose: values.verbose });
  console.log(JSON.stringify(result));
} else {
  const start = Number(values.start);
  const count = Number(values.seeds);
  if (!Number.isInteger(start) || !Number.isInteger(count) || count < 1) {
    console.error("--seeds and --start take whole numbers");
    process.exit(2);
  }
  const began = Date.now();
  let committed = 0;
  for (let seed = start; seed < start + count; seed++) {
    try {
      committed += runSeed({ seed, voters: seed % 2 === 0 ? 5 : voters }).committed;
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
    if ((seed - start + 1) % 100 === 0) {
      console.log(
        `${seed - start + 1}/${count} seeds green (${((Date.now() - began) / 1000).toFixed(0)} s, ${committed} entries committed)`,
      );
    }
  }
  console.log(
    `all ${count} seeds green: seeds ${start}..${start + count - 1}, ${committed} entries committed`,
  );
}
