// `node dist/bench/src/profile.js --results bench/results/<run>.json --cell 256x64 CPU.*.cpuprofile`:
// for each profile of a geobroker node (GEOBROKER_NODE_ARGS=--cpu-prof, see docs/benchmarks.md),
// the CPU of the cell's measured window per component, in µs per acknowledged message.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { breakdown, type CpuProfile, formatBreakdown } from "./profile-breakdown.js";
import type { CellResult } from "./stats.js";

const usage = `node dist/bench/src/profile.js --results RUN.json --cell SIZExINFLIGHT[xBATCH] PROFILE...

  --results FILE   the JSON a bench run wrote (bench/results/<timestamp>.json)
  --cell CELL      which geobroker cell: 256x64 (256 B, 64 in flight) or 256x8x100 (8 batches of 100)
  --cpu-us N       the node's CPU per message from the bench's CPU line (leader or follower): adds
                   a column of each component's share of it (profiles sample wall time)
  PROFILE          .cpuprofile files the nodes wrote (node --cpu-prof) during that run`;

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      results: { type: "string" },
      cell: { type: "string" },
      "cpu-us": { type: "string" },
      help: { type: "boolean" },
    },
  });
  const m = /^(\d+)x(\d+)(?:x(\d+))?$/.exec(values.cell ?? "");
  if (values.help || !values.results || !m || positionals.length === 0) {
    console.error(usage);
    return 2;
  }
  const [size, inflight, batch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 1)];
  const report = JSON.parse(readFileSync(values.results, "utf8")) as { results: CellResult[] };
  const cell = report.results.find(
    (r) => r.system === "geobroker" && r.size === size && r.inflight === inflight && r.batch === batch,
  );
  const window = cell?.windowsMonotonicUs.length === 1 ? cell.windowsMonotonicUs[0] : undefined;
  if (!cell || !window) {
    console.error(`profile: no geobroker cell ${values.cell} with one round in ${values.results}`);
    return 1;
  }
  const [from, to] = window;
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    if (profile.endTime < from || profile.startTime > to) {
      console.log(`${basename(file)}: does not cover the cell's window\n`);
      continue;
    }
    const cpuUs = values["cpu-us"] === undefined ? undefined : Number(values["cpu-us"]);
    const title = `${basename(file)}, cell ${values.cell}`;
    console.log(formatBreakdown(title, breakdown(profile, from, to), cell.messages, cpuUs));
    console.log("");
  }
  return 0;
}

process.exit(main(process.argv.slice(2)));
