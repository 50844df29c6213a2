// Numbers of one benchmark cell: latency histogram and the summary written to the table and JSON.
import { LatencyRecorder } from "../../broker/src/util/latency.js";

export interface CellKey {
  system: string;
  size: number;
  /** Publish calls in flight (each of `batch` messages). */
  inflight: number;
  /** Messages per publish call: 1, or a batched cell (a frame of many messages; NATS: that many async publishes awaited together). */
  batch: number;
}

export interface CellResult extends CellKey {
  /** Measured seconds (the warm-up is not counted). */
  seconds: number;
  /** Publishes acknowledged within the measured window. */
  messages: number;
  errors: number;
  msgsPerSec: number;
  /** Body bytes acknowledged per second, in MB (10^6 bytes). */
  mbPerSec: number;
  latencyMs: { p50: number; p99: number; p999: number; mean: number; max: number };
  /** msg/s of each round (one entry unless --rounds). */
  roundsMsgsPerSec: number[];
  /** The first error message seen, if any. */
  firstError?: string;
  /**
   * Each round's measured window on CLOCK_MONOTONIC in µs (the clock of a node's --cpu-prof), to cut
   * the cell out of a profile with bench/src/profile.ts.
   */
  windowsMonotonicUs: [number, number][];
  /** What the servers reported about the cell (e.g. fsyncs on the leader), one per round. */
  notes?: string[];
  /**
   * geobroker only: the leader's synced Raft log writes (geobroker_storage_fsync_seconds_count on
   * its /metrics) per acknowledged message, over every round (warm-up included on both sides).
   */
  fsyncsPerAck?: number;
  /**
   * geobroker only: CPU seconds (user + system, `geobroker_process_process_cpu_seconds_total`) the
   * leader and one follower spent per acknowledged message, in µs, averaged over the rounds; and
   * the leader's event-loop delay p99 in ms over the cell (prom-client's monitorEventLoopDelay).
   */
  cpu?: CpuPerMessage;
}

export interface CpuPerMessage {
  leaderUs: number;
  followerUs: number;
  leaderLoopDelayP99Ms: number;
}

/** What one round of one cell measured. */
export interface Measurement {
  seconds: number;
  /** The measured window on CLOCK_MONOTONIC, µs (absent when the cell failed before measuring). */
  windowMonotonicUs?: [number, number];
  messages: number;
  errors: number;
  latency: LatencyRecorder;
  firstError?: string;
  note?: string;
  fsyncsPerAck?: number;
  cpu?: CpuPerMessage;
}

/**
 * A cell's result over its rounds: msg/s over all measured seconds, latency percentiles over every
 * ack of every round, and each round's msg/s to show the spread.
 */
export function summarize(key: CellKey, rounds: Measurement[]): CellResult {
  const latency = new LatencyRecorder();
  let seconds = 0;
  let messages = 0;
  let errors = 0;
  let firstError: string | undefined;
  for (const r of rounds) {
    latency.add(r.latency);
    seconds += r.seconds;
    messages += r.messages;
    errors += r.errors;
    firstError ??= r.firstError;
  }
  const msgsPerSec = seconds > 0 ? messages / seconds : 0;
  const perAck = rounds.map((r) => r.fsyncsPerAck).filter((x): x is number => x !== undefined);
  const cpu = rounds.map((r) => r.cpu).filter((x): x is CpuPerMessage => x !== undefined);
  const mean = (f: (c: CpuPerMessage) => number) => cpu.reduce((a, c) => a + f(c), 0) / cpu.length;
  return {
    ...key,
    seconds,
    messages,
    errors,
    msgsPerSec,
    mbPerSec: (msgsPerSec * key.size) / 1e6,
    latencyMs: {
      p50: latency.percentileMs(50),
      p99: latency.percentileMs(99),
      p999: latency.percentileMs(99.9),
      mean: latency.meanMs,
      max: latency.maxMs,
    },
    ...(rounds.some((r) => r.note) ? { notes: rounds.map((r) => r.note ?? "") } : {}),
    ...(perAck.length > 0 ? { fsyncsPerAck: perAck.reduce((a, b) => a + b, 0) / perAck.length } : {}),
    ...(cpu.length > 0
      ? {
          cpu: {
            leaderUs: mean((c) => c.leaderUs),
            followerUs: mean((c) => c.followerUs),
            leaderLoopDelayP99Ms: Math.max(...cpu.map((c) => c.leaderLoopDelayP99Ms)),
          },
        }
      : {}),
    windowsMonotonicUs: rounds.flatMap((r) => (r.windowMonotonicUs ? [r.windowMonotonicUs] : [])),
    roundsMsgsPerSec: rounds.map((r) => (r.seconds > 0 ? r.messages / r.seconds : 0)),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

/** a / b as a ratio, or undefined when either side is missing or zero. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !(a > 0) || !(b > 0)) return undefined;
  return a / b;
}

/**
 * Sums of the named unlabelled-or-labelled Prometheus series in a /metrics text (a name matches
 * `name` and `name{...}` lines). Missing names are 0.
 */
export function promValues(text: string, names: string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1]! in out) out[m[1]!] = out[m[1]!]! + Number(m[3]);
  }
  return out;
}

export const fsyncSeries = [
  "geobroker_storage_fsync_seconds_count",
  "geobroker_storage_fsync_seconds_sum",
  "geobroker_storage_fsync_entries_sum",
];

/**
 * "412 fsyncs (41/s), mean 3.2 ms, 24.1 Raft entries each, 0.05 fsyncs per acked message (8240 acks)"
 * from two /metrics readings. The count is the Raft log store's synced write batches (every group
 * on the node; the metadata group's are a handful per cell).
 */
export function fsyncNote(
  before: Record<string, number>,
  after: Record<string, number>,
  seconds: number,
  acked: number,
): { text: string; fsyncsPerAck?: number } {
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  const count = d("geobroker_storage_fsync_seconds_count");
  if (count <= 0) return { text: "no fsync" };
  const meanMs = (d("geobroker_storage_fsync_seconds_sum") / count) * 1000;
  const entries = d("geobroker_storage_fsync_entries_sum") / count;
  const perAck = acked > 0 ? count / acked : undefined;
  return {
    text:
      `${count} fsyncs (${Math.round(count / seconds)}/s), mean ${meanMs.toFixed(1)} ms, ${entries.toFixed(1)} Raft entries each` +
      (perAck !== undefined ? `, ${perAck.toFixed(2)} fsyncs per acked message (${acked} acks)` : ""),
    ...(perAck !== undefined ? { fsyncsPerAck: perAck } : {}),
  };
}

/** The process series a node's /metrics carries (prom-client's defaults, prefixed geobroker_process_). */
export const cpuSeries = [
  "geobroker_process_process_cpu_seconds_total",
  "geobroker_process_nodejs_eventloop_lag_p99_seconds",
];

/**
 * "leader 61 µs CPU/msg, follower 33 µs, leader event loop p99 12.3 ms" from /metrics readings of the
 * leader and one follower before and after a cell; `acked` is every ack in that window. CPU per
 * message is the number to compare across runs on a loaded machine: throughput moves with the
 * other jobs on the cores, the CPU one message costs much less.
 */
export function cpuNote(
  leader: { before: Record<string, number>; after: Record<string, number> },
  follower: { before: Record<string, number>; after: Record<string, number> },
  acked: number,
): { text: string; cpu?: CpuPerMessage } {
  if (!(acked > 0)) return { text: "no acks: no CPU per message" };
  const cpuUs = (r: { before: Record<string, number>; after: Record<string, number> }) =>
    (((r.after[cpuSeries[0]!] ?? 0) - (r.before[cpuSeries[0]!] ?? 0)) * 1e6) / acked;
  const cpu = {
    leaderUs: cpuUs(leader),
    followerUs: cpuUs(follower),
    // prom-client resets the loop-delay histogram at each scrape: the "after" reading covers the cell.
    leaderLoopDelayP99Ms: (leader.after[cpuSeries[1]!] ?? 0) * 1000,
  };
  return {
    text: `leader ${cpu.leaderUs.toFixed(0)} µs CPU/msg, follower ${cpu.followerUs.toFixed(0)} µs, leader event loop p99 ${cpu.leaderLoopDelayP99Ms.toFixed(1)} ms`,
    cpu,
  };
}
