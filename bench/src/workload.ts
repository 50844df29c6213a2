// The publish workload, the same for every system: a closed loop with K publishes in flight.
// Each of K workers publishes, waits for the ack, records the latency and publishes again.
import { randomFillSync } from "node:crypto";
import { LatencyRecorder } from "../../broker/src/util/latency.js";
import type { CpuPerMessage, Measurement } from "./stats.js";
import { progressLine } from "./table.js";

/** One system's publisher for one cell: resolves when the message is acknowledged as durable. */
export interface CellPublisher {
  publish(body: Uint8Array): Promise<void>;
  /** Publishes `count` messages of this body as one batch; resolves when every one is acknowledged. */
  publishBatch(body: Uint8Array, count: number): Promise<void>;
  /**
   * What the servers say about the cell so far (e.g. fsyncs on the leader), if they tell; `acked`
   * is every ack since the publisher opened (warm-up included), the window the servers counted.
   */
  note?(acked: number): Promise<CellNote | undefined>;
  /**
   * A subscriber to the cell's topic on a node other than the leader, from the latest message on:
   * resolves once it is live; `onBody` gets every delivered body (the deliver cell, bench/src/deliver.ts).
   */
  subscribe?(onBody: (body: Uint8Array) => void): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface CellNote {
  text: string;
  /** The leader's synced Raft log writes per acknowledged message over the cell (geobroker). */
  fsyncsPerAck?: number;
  /** The leader's and a follower's CPU per acknowledged message (geobroker). */
  cpu?: CpuPerMessage;
}

export interface CellPlan {
  system: string;
  size: number;
  inflight: number;
  /** Messages per publish call (1: single publishes). */
  batch: number;
  warmupS: number;
  durationS: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCell(
  plan: CellPlan,
  publisher: CellPublisher,
  say: (line: string) => void,
): Promise<Measurement> {
  // Random bytes: neither side can gain from compressing the body.
  const body = randomFillSync(new Uint8Array(plan.size));
  const latency = new LatencyRecorder();
  const interval = new LatencyRecorder();
  const start = performance.now();
  // The same instant on CLOCK_MONOTONIC, the clock V8's --cpu-prof timestamps use: the measured
  // window of a cell can be cut out of a node's profile (bench/src/profile.ts).
  const startMonotonicUs = Number(process.hrtime.bigint() / 1000n);
  const measureFrom = start + plan.warmupS * 1000;
  const end = measureFrom + plan.durationS * 1000;
  let acked = 0;
  let allAcked = 0;
  let intervalAcked = 0;
  let errors = 0;
  let firstError: string | undefined;

  const worker = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= end) return;
      try {
        if (plan.batch > 1) await publisher.publishBatch(body, plan.batch);
        else await publisher.publish(body);
      } catch (err) {
        const now = performance.now();
        if (now >= measureFrom && now <= end) errors++;
        firstError ??= (err as Error).message ?? String(err);
        await sleep(20); // an unavailable leader: do not spin
        continue;
      }
      const now = performance.now();
      allAcked += plan.batch;
      intervalAcked += plan.batch;
      interval.recordMs(now - sent);
      // A cell counts the acks that arrive in its measured window, and their latencies (one per
      // publish call: a batch's latency is its last message's).
      if (now >= measureFrom && now <= end) {
        acked += plan.batch;
        latency.recordMs(now - sent);
      }
    }
  };

  let lastTick = start;
  const ticker = setInterval(() => {
    const now = performance.now();
    const measuring = now >= measureFrom;
    say(
      progressLine({
        system: plan.system,
        size: plan.size,
        inflight: plan.inflight,
        batch: plan.batch,
        phase: measuring ? "measure" : "warm-up",
        elapsedS: measuring ? (now - measureFrom) / 1000 : (now - start) / 1000,
        totalS: measuring ? plan.durationS : plan.warmupS,
        msgsPerSec: (intervalAcked * 1000) / (now - lastTick),
        p99Ms: interval.percentileMs(99),
        errors,
      }),
    );
    intervalAcked = 0;
    interval.reset();
    lastTick = now;
  }, 1000);
  try {
    await Promise.all(Array.from({ length: plan.inflight }, worker));
  } finally {
    clearInterval(ticker);
  }
  const note = await publisher.note?.(allAcked).catch(() => undefined);
  return {
    ...(note ? { note: note.text } : {}),
    ...(note?.fsyncsPerAck !== undefined ? { fsyncsPerAck: note.fsyncsPerAck } : {}),
    ...(note?.cpu ? { cpu: note.cpu } : {}),
    seconds: plan.durationS,
    windowMonotonicUs: [
      startMonotonicUs + Math.round((measureFrom - start) * 1000),
      startMonotonicUs + Math.round((end - start) * 1000),
    ],
    messages: acked,
    errors,
    latency,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}
