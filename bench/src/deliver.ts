// The publish->deliver cell: an open loop publishing at a fixed rate to the partition leader while
// a subscriber on another node receives; the latency of each message runs from the moment it was
// due to be sent (its schedule, not its actual send: a stalled publisher cannot hide its stall,
// no coordinated omission) to its delivery. The schedule travels in the body's first 8 bytes.
import { randomFillSync } from "node:crypto";
import { LatencyRecorder } from "../../broker/src/util/latency.js";
import type { Measurement } from "./stats.js";
import type { CellPublisher } from "./workload.js";

export interface DeliverPlan {
  system: string;
  size: number;
  /** Messages per second, sent one by one at their scheduled times. */
  rate: number;
  warmupS: number;
  durationS: number;
}

/** How long after the last scheduled send the cell waits for the deliveries still on their way. */
const drainMs = 3000;

/** Stamps a copy of `template` with its scheduled send time (performance.now() ms, float64). */
export function stamped(template: Uint8Array, dueMs: number): Uint8Array {
  const body = new Uint8Array(template);
  new DataView(body.buffer).setFloat64(0, dueMs);
  return body;
}

/** The scheduled send time a stamped body carries. */
export function stampOf(body: Uint8Array): number {
  return new DataView(body.buffer, body.byteOffset, body.byteLength).getFloat64(0);
}

/** Messages due by `elapsedMs` at `rate` msg/s (the first is due at 0). */
export function dueBy(elapsedMs: number, rate: number): number {
  return elapsedMs < 0 ? 0 : Math.floor((elapsedMs * rate) / 1000) + 1;
}

export async function runDeliverCell(
  plan: DeliverPlan,
  publisher: CellPublisher,
  say: (line: string) => void,
): Promise<Measurement> {
  if (!publisher.subscribe) throw new Error(`${plan.system} has no subscriber for the deliver cell`);
  const template = randomFillSync(new Uint8Array(Math.max(8, plan.size)));
  const latency = new LatencyRecorder();
  let delivered = 0;
  let deliveredThisSecond = 0;
  const start = performance.now() + 50;
  const measureFrom = start + plan.warmupS * 1000;
  const end = measureFrom + plan.durationS * 1000;
  const subscription = await publisher.subscribe((body) => {
    deliveredThisSecond++;
    const due = stampOf(body);
    if (due < measureFrom || due >= end) return;
    delivered++;
    latency.recordMs(performance.now() - due);
  });
  let sent = 0;
  let inFlight = 0;
  let errors = 0;
  let firstError: string | undefined;
  // An open loop must not queue without bound when the system falls behind: past one second of
  // messages unacknowledged, due messages are skipped and counted as errors.
  const maxInFlight = Math.max(100, plan.rate);
  let lastSay = start;
  let expected = 0;
  try {
    for (;;) {
      const now = performance.now();
      if (now >= end) break;
      const due = Math.min(dueBy(now - start, plan.rate), Math.ceil(((end - start) * plan.rate) / 1000));
      for (; sent < due; sent++) {
        const at = start + (sent * 1000) / plan.rate;
        if (inFlight >= maxInFlight) {
          if (at >= measureFrom) errors++;
          firstError ??= `the publisher fell behind: ${inFlight} publishes unacknowledged`;
          continue;
        }
        inFlight++;
        publisher.publish(stamped(template, at)).then(
          () => inFlight--,
          (err: Error) => {
            inFlight--;
            if (at >= measureFrom) errors++;
            firstError ??= err.message;
          },
        );
      }
      if (now - lastSay >= 1000) {
        lastSay = now;
        const phase = now < measureFrom ? "warm-up" : "measure";
        say(
          `  ${plan.system} deliver @${plan.rate}/s ${phase}: ${deliveredThisSecond} delivered in the last second, ${inFlight} unacknowledged`,
        );
        deliveredThisSecond = 0;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    const drainUntil = performance.now() + drainMs;
    expected = Math.round(plan.durationS * plan.rate - errors);
    while (delivered < expected && performance.now() < drainUntil)
      await new Promise((r) => setTimeout(r, 20));
  } finally {
    await subscription.close();
  }
  const missing = expected - delivered;
  return {
    ...(missing > 0
      ? { note: `${missing} published messages not delivered within ${drainMs / 1000} s of the end` }
      : {}),
    seconds: plan.durationS,
    messages: delivered,
    errors,
    latency,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}
