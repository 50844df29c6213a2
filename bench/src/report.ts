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
  /** The scaling cells: one topic of `partitions` partitions per cell (geobroker). */
  scaling: ScalingResult[];
  /** The node-scaling cells: 16 partitions, leaders spread, on 3 and 6 nodes (geobroker). */
  nodes: NodesResult[];
  resultLines: string[];
}

export type GeoResult = CellResult & GeoCell;
export type ScalingResult = CellResult & { partitions: number };
export type NodesResult = CellResult & { partitions: number; nodes: number };

/**
 * `RESULT partitions size=256 inflight=64 p1=N p4=M p16=K speedup=X` (msg/s rounded; speedup: the
 * most partitions over the fewest), or nothing without scaling cells.
 */
export function formatScalingLine(cells: ScalingResult[]): string[] {
  return scalingLine("partitions", "p", cells, (r) => r.partitions);
}

/** `RESULT nodes size=256 inflight=64 partitions=16 n3=N n6=M speedup=X`, or nothing. */
export function formatNodesLine(cells: NodesResult[]): string[] {
  return scalingLine(
    "nodes",
    "n",
    cells,
    (r) => r.nodes,
    cells[0] ? [`partitions=${cells[0].partitions}`] : [],
  );
}

function scalingLine<T extends CellResult>(
  what: string,
  prefix: string,
  cells: T[],
  count: (r: T) => number,
  extra: string[] = [],
): string[] {
  if (cells.length === 0) return [];
  const by = [...cells].sort((a, b) => count(a) - count(b));
  const rate = (r: T) => (r.messages > 0 ? String(Math.round(r.msgsPerSec)) : "na");
  const first = by[0]!;
  const last = by.at(-1)!;
  const speedup =
    by.length > 1 && first.msgsPerSec > 0 && last.messages > 0
      ? (last.msgsPerSec / first.msgsPerSec).toFixed(2)
      : "na";
  return [
    [
      `RESULT ${what}`,
      `size=${first.size}`,
      `inflight=${first.inflight}`,
      ...extra,
      ...by.map((r) => `${prefix}${count(r)}=${rate(r)}`),
      `speedup=${speedup}`,
    ].join(" "),
  ];
}

export function benchReport(o: Omit<BenchReport, "resultLines">): BenchReport {
  return {
    ...o,
    resultLines: [
      ...formatResultLines(o.results),
      ...formatDeliver(o.deliver).lines,
      ...formatScalingLine(o.scaling),
      ...formatNodesLine(o.nodes),
      ...o.geo.map((g) => formatGeoLine(g, g)),
    ],
  };
}
