// The JSON a bench run writes to bench/results/<timestamp>.json. Its shape is a contract for
// whoever compares runs: `results[]` with `system` (geobroker, nats = fsync always, nats-default),
// `size`, `inflight`, `msgsPerSec`, `latencyMs.p99` (and the rest of CellResult), plus the RESULT
// lines printed after the table.
import type { BenchOptions } from "./args.js";
import { formatGeoLine, type GeoCell } from "./geo.js";
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
  /** The geo cells: publish->ack under the simulated WAN, with the bound each is held to. */
  geo: GeoResult[];
  resultLines: string[];
}

export type GeoResult = CellResult & GeoCell;

export function benchReport(o: Omit<BenchReport, "resultLines">): BenchReport {
  return {
    ...o,
    resultLines: [
      ...formatResultLines(o.results),
      ...formatDeliver(o.deliver).lines,
      ...o.geo.map((g) => formatGeoLine(g, g)),
    ],
  };
}
