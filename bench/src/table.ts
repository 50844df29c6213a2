// Text output of the benchmark: progress lines and the side-by-side table. Pure formatting.
import { systems } from "./args.js";
import { type CellResult, ratio } from "./stats.js";

/** geobroker first, NATS last, anything else in between. */
const order = (system: string) => {
  const i = (systems as readonly string[]).indexOf(system);
  return i < 0 ? 0.5 : i;
};

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

export function formatRate(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-";
}

/** One progress line while a cell runs. */
export function progressLine(o: {
  system: string;
  size: number;
  inflight: number;
  phase: "warm-up" | "measure";
  elapsedS: number;
  totalS: number;
  msgsPerSec: number;
  p99Ms: number;
  errors: number;
}): string {
  return (
    `  ${o.system.padEnd(9)} ${formatSize(o.size).padStart(7)} x${String(o.inflight).padEnd(4)} ` +
    `${o.phase.padEnd(7)} ${o.elapsedS.toFixed(0).padStart(3)}/${o.totalS.toFixed(0)} s  ` +
    `${formatRate(o.msgsPerSec).padStart(8)} msg/s  p99 ${formatMs(o.p99Ms)} ms` +
    (o.errors > 0 ? `  errors ${o.errors}` : "")
  );
}

/**
 * The side-by-side table, in Markdown: one row per (size, in flight, system), and for geobroker the
 * throughput and p99 relative to NATS in the same cell.
 */
export function formatTable(results: CellResult[]): string {
  const header = [
    "size",
    "in flight",
    "system",
    "msg/s",
    "MB/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "errors",
    "msg/s vs NATS",
    "p99 vs NATS",
  ];
  // With --rounds, each round's msg/s shows how steady the numbers were.
  const withRounds = results.some((r) => r.roundsMsgsPerSec.length > 1);
  if (withRounds) header.push("msg/s per round");
  const rows: string[][] = [];
  const cells = [...new Set(results.map((r) => `${r.size}/${r.inflight}`))]
    .map((k) => k.split("/").map(Number) as [number, number])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [size, inflight] of cells) {
    const here = results
      .filter((r) => r.size === size && r.inflight === inflight)
      .sort((a, b) => order(a.system) - order(b.system));
    const nats = here.find((r) => r.system === "nats");
    for (const r of here) {
      const vs = r.system === "nats" ? undefined : nats;
      const t = ratio(r.msgsPerSec, vs?.msgsPerSec);
      const l = ratio(r.latencyMs.p99, vs?.latencyMs.p99);
      rows.push([
        formatSize(size),
        String(inflight),
        r.system,
        formatRate(r.msgsPerSec),
        r.mbPerSec.toFixed(2),
        formatMs(r.latencyMs.p50),
        formatMs(r.latencyMs.p99),
        formatMs(r.latencyMs.p999),
        String(r.errors),
        t === undefined ? "" : `${t.toFixed(2)}x`,
        l === undefined ? "" : `${l.toFixed(2)}x`,
        ...(withRounds ? [r.roundsMsgsPerSec.map((x) => Math.round(x)).join(" ")] : []),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = (i: number) => i >= 3 && i < 11;
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (numeric(i) ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}
