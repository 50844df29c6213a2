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
  batch: number;
  phase: "warm-up" | "measure";
  elapsedS: number;
  totalS: number;
  msgsPerSec: number;
  p99Ms: number;
  errors: number;
}): string {
  return (
    `  ${o.system.padEnd(9)} ${formatSize(o.size).padStart(7)} x${inFlightText(o).padEnd(4)} ` +
    `${o.phase.padEnd(7)} ${o.elapsedS.toFixed(0).padStart(3)}/${o.totalS.toFixed(0)} s  ` +
    `${formatRate(o.msgsPerSec).padStart(8)} msg/s  p99 ${formatMs(o.p99Ms)} ms` +
    (o.errors > 0 ? `  errors ${o.errors}` : "")
  );
}

/** "64", or "8 x 100" for 8 batches of 100 messages in flight. */
export function inFlightText(c: { inflight: number; batch: number }): string {
  return c.batch > 1 ? `${c.inflight} x ${c.batch}` : String(c.inflight);
}

type Cell = { size: number; inflight: number; batch: number };

/** The cells present in the results: single publishes first, then batched; smallest first. */
function cellsOf(results: CellResult[]): Cell[] {
  return [...new Set(results.map((r) => `${r.size}/${r.inflight}/${r.batch}`))]
    .map((k) => {
      const [size, inflight, batch] = k.split("/").map(Number) as [number, number, number];
      return { size, inflight, batch };
    })
    .sort(
      (a, b) =>
        Number(a.batch > 1) - Number(b.batch > 1) ||
        a.size - b.size ||
        a.inflight - b.inflight ||
        a.batch - b.batch,
    );
}

const inCell = (r: CellResult, c: Cell) =>
  r.size === c.size && r.inflight === c.inflight && r.batch === c.batch;

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
    "msg/s vs NATS default",
  ];
  // With --rounds, each round's msg/s shows how steady the numbers were.
  const withRounds = results.some((r) => r.roundsMsgsPerSec.length > 1);
  if (withRounds) header.push("msg/s per round");
  const rows: string[][] = [];
  const cells = cellsOf(results);
  for (const c of cells) {
    const here = results.filter((r) => inCell(r, c)).sort((a, b) => order(a.system) - order(b.system));
    const nats = here.find((r) => r.system === "nats");
    const natsDefault = here.find((r) => r.system === "nats-default");
    for (const r of here) {
      const isNats = r.system === "nats" || r.system === "nats-default";
      const vs = isNats ? undefined : nats;
      const t = ratio(r.msgsPerSec, vs?.msgsPerSec);
      const l = ratio(r.latencyMs.p99, vs?.latencyMs.p99);
      const td = ratio(r.msgsPerSec, isNats ? undefined : natsDefault?.msgsPerSec);
      rows.push([
        formatSize(c.size),
        inFlightText(c),
        r.system,
        formatRate(r.msgsPerSec),
        r.mbPerSec.toFixed(2),
        formatMs(r.latencyMs.p50),
        formatMs(r.latencyMs.p99),
        formatMs(r.latencyMs.p999),
        String(r.errors),
        t === undefined ? "" : `${t.toFixed(2)}x`,
        l === undefined ? "" : `${l.toFixed(2)}x`,
        td === undefined ? "" : `${td.toFixed(2)}x`,
        ...(withRounds ? [r.roundsMsgsPerSec.map((x) => Math.round(x)).join(" ")] : []),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = (i: number) => i >= 3 && i < 12;
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (numeric(i) ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

const cellNumber = (n: number | undefined, digits: number) =>
  n === undefined || !Number.isFinite(n) ? "na" : digits === 0 ? String(Math.round(n)) : n.toFixed(digits);

/**
 * One machine-readable line per cell, after the table:
 * `RESULT throughput size=256 inflight=64 geobroker=N nats_sync=M nats_default=K ratio_sync=X ratio_default=Y p99_ratio_sync=Z`
 * (msg/s rounded; ratios geobroker over NATS, 2 decimals; `na` where a system did not run or had no
 * ack). A batched cell's line starts `RESULT batched` and adds `batch=B` after `inflight`.
 */
export function formatResultLines(results: CellResult[]): string[] {
  const cells = cellsOf(results);
  return cells.map((c) => {
    const { size, inflight, batch } = c;
    const of = (system: string) => results.find((r) => r.system === system && inCell(r, c));
    const g = of("geobroker");
    const sync = of("nats");
    const def = of("nats-default");
    const rate = (r: CellResult | undefined) => (r && r.msgsPerSec > 0 ? r.msgsPerSec : undefined);
    return [
      batch > 1 ? "RESULT batched" : "RESULT throughput",
      `size=${size}`,
      `inflight=${inflight}`,
      ...(batch > 1 ? [`batch=${batch}`] : []),
      `geobroker=${cellNumber(rate(g), 0)}`,
      `nats_sync=${cellNumber(rate(sync), 0)}`,
      `nats_default=${cellNumber(rate(def), 0)}`,
      `ratio_sync=${cellNumber(ratio(g?.msgsPerSec, sync?.msgsPerSec), 2)}`,
      `ratio_default=${cellNumber(ratio(g?.msgsPerSec, def?.msgsPerSec), 2)}`,
      `p99_ratio_sync=${cellNumber(ratio(g?.latencyMs.p99, sync?.latencyMs.p99), 2)}`,
    ].join(" ");
  });
}

/**
 * "geobroker fsyncs per acked message (...): 256 B x1 1.01, 256 B x64 0.08", or nothing when no cell
 * measured it. The count is the leader's synced Raft log writes over the cell, read from /metrics.
 */
export function formatFsyncLine(results: CellResult[]): string | undefined {
  const measured = results.filter((r) => r.system === "geobroker" && r.fsyncsPerAck !== undefined);
  if (measured.length === 0) return undefined;
  const cells = measured
    .sort((a, b) => a.batch - b.batch || a.size - b.size || a.inflight - b.inflight)
    .map((r) => `${formatSize(r.size)} x${inFlightText(r)} ${r.fsyncsPerAck!.toFixed(2)}`);
  return `geobroker fsyncs per acked message (the leader's synced Raft log writes / acks, warm-up included): ${cells.join(", ")}`;
}

/**
 * "geobroker CPU per acked message (µs, leader / follower; leader event loop p99): 256 B x1 410 / 230
 * (3.1 ms), ..." or nothing when no cell measured it.
 */
export function formatCpuLine(results: CellResult[]): string | undefined {
  const measured = results.filter((r) => r.system === "geobroker" && r.cpu !== undefined);
  if (measured.length === 0) return undefined;
  const cells = measured
    .sort((a, b) => a.batch - b.batch || a.size - b.size || a.inflight - b.inflight)
    .map(
      (r) =>
        `${formatSize(r.size)} x${inFlightText(r)} ${r.cpu!.leaderUs.toFixed(0)} / ${r.cpu!.followerUs.toFixed(0)} (${r.cpu!.leaderLoopDelayP99Ms.toFixed(1)} ms)`,
    );
  return `geobroker CPU per acked message (µs of user+system CPU, leader / follower, warm-up included; leader event loop delay p99): ${cells.join(", ")}`;
}

/** A deliver cell's result: a CellResult whose latency is publish->deliver, at a fixed rate. */
export type DeliverResult = CellResult & { rate: number };

/**
 * The deliver cells as a small table, and their one RESULT line per rate:
 * `RESULT deliver rate=5000 size=256 geobroker_p50_ms=A geobroker_p99_ms=B nats_sync_p50_ms=C
 * nats_sync_p99_ms=D nats_default_p50_ms=E nats_default_p99_ms=F p99_ratio_sync=X p99_ratio_default=Y
 * geobroker_delivered=N nats_sync_delivered=M nats_default_delivered=K` (delivered: msg/s counted
 * in the window, which is the rate when a system keeps up; `na` where a system did not run).
 */
export function formatDeliver(results: DeliverResult[]): { table: string; lines: string[] } {
  const rows = results.map(
    (r) =>
      `| ${formatSize(r.size)} | ${r.rate} | ${r.system} | ${formatRate(r.msgsPerSec)} | ${formatMs(r.latencyMs.p50)} | ${formatMs(r.latencyMs.p99)} | ${formatMs(r.latencyMs.p999)} | ${r.errors} |`,
  );
  const table = [
    "| size | rate msg/s | system | delivered msg/s | deliver p50 ms | deliver p99 ms | p99.9 ms | errors |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
  const rates = [...new Set(results.map((r) => `${r.rate}/${r.size}`))];
  const lines = rates.map((key) => {
    const here = results.filter((r) => `${r.rate}/${r.size}` === key);
    const of = (s: string) => here.find((r) => r.system === s && r.messages > 0);
    const g = of("geobroker");
    const n = of("nats");
    const d = of("nats-default");
    const ms = (r: CellResult | undefined, p: "p50" | "p99") => cellNumber(r?.latencyMs[p], 2);
    return [
      "RESULT deliver",
      `rate=${here[0]!.rate}`,
      `size=${here[0]!.size}`,
      `geobroker_p50_ms=${ms(g, "p50")}`,
      `geobroker_p99_ms=${ms(g, "p99")}`,
      `nats_sync_p50_ms=${ms(n, "p50")}`,
      `nats_sync_p99_ms=${ms(n, "p99")}`,
      `nats_default_p50_ms=${ms(d, "p50")}`,
      `nats_default_p99_ms=${ms(d, "p99")}`,
      `p99_ratio_sync=${cellNumber(ratio(g?.latencyMs.p99, n?.latencyMs.p99), 2)}`,
      `p99_ratio_default=${cellNumber(ratio(g?.latencyMs.p99, d?.latencyMs.p99), 2)}`,
      `geobroker_delivered=${cellNumber(g?.msgsPerSec, 0)}`,
      `nats_sync_delivered=${cellNumber(n?.msgsPerSec, 0)}`,
      `nats_default_delivered=${cellNumber(d?.msgsPerSec, 0)}`,
    ].join(" ");
  });
  return { table, lines };
}
