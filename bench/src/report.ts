// The JSON a bench run writes to bench/results/<timestamp>.json. Its shape is a contract for
// whoever compares runs: `results[]` with `system` (geobroker, nats = fsync always, nats-default),
// `size`, `inflight`, `msgsPerSec`, `latencyMs.p99` (and the rest of CellResult), plus the RESULT
// lines printed after the table.
import type { BenchOptions } from "./args.js";
import type { CellResult } from "./stats.js";
import { type DeliverResult, formatDeliver, formatResultLines } from "./table.js";

export interface BenchReport {
  runId: string;
  startedAt: string;
  finishedAt: string;
  machine: { cores: number; cpu: string | undefined; memoryBytes: number; node: string };
  options: BenchOptions;
  systems: Record<string, { setup: string; durability: string }>;
  results: CellResult[];
  /** The deliver cells (publish->deliver latency at a fixed rate), apart from the throughput cells. */
  deliver: DeliverResult[];
  resultLines: string[];
}

export function benchReport(o: Omit<BenchReport, "resultLines">): BenchReport {
  return { ...o, resultLines: [...formatResultLines(o.results), ...formatDeliver(o.deliver).lines] };
}
