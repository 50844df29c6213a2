import type { HistoryEvent } from "./events.js";
import type { Violation } from "./rules.js";

// The durable consumer's rules (docs/decisions/0004: a message is delivered until a client
// acknowledges it and that ack commits; after that it is never delivered to that consumer again).
// A floor the cluster reports is committed state, so it is what these rules judge acks by: an ack
// the client sent may be lost in a fault, and the redelivery that follows is allowed.

/** The body each acknowledged publish was invoked with, by partition and offset. */
function acknowledgedAt(h: HistoryEvent[]): Map<number, Map<number, string>> {
  const bodyOf = new Map<string, string>();
  const out = new Map<number, Map<number, string>>();
  for (const e of h) {
    if (e.type === "invoke") bodyOf.set(`${e.process}/${e.id}`, e.body);
    else if (e.type === "ok") {
      const byOffset = out.get(e.partition) ?? new Map<number, string>();
      out.set(e.partition, byOffset);
      byOffset.set(e.offset, bodyOf.get(`${e.process}/${e.id}`) ?? e.id);
    }
  }
  return out;
}

/**
 * An acknowledged publish that a consumer never got: below the floor the cluster reported after the
 * run (the floor says it was acknowledged, so it must have been delivered), or not covered by that
 * floor at all (the consumer never reached it although it drained until the end).
 */
export function consumerLost(h: HistoryEvent[]): Violation[] {
  const acked = acknowledgedAt(h);
  const consumed = new Set<string>();
  const finals = new Map<string, { consumer: string; partition: number; floor: number }>();
  for (const e of h) {
    if (e.type === "consume") consumed.add(`${e.consumer}/${e.partition}/${e.offset}`);
    else if (e.type === "consumer-floor" && e.final)
      finals.set(`${e.consumer}/${e.partition}`, {
        consumer: e.consumer,
        partition: e.partition,
        floor: e.floor,
      });
  }
  const out: Violation[] = [];
  for (const { consumer, partition, floor } of finals.values())
    for (const [offset, body] of acked.get(partition) ?? []) {
      if (offset >= floor)
        out.push({
          rule: "consumer-lost",
          message: `consumer ${consumer} p${partition}: acknowledged ${body} (offset ${offset}) is above its final ack floor ${floor}: never consumed`,
        });
      else if (!consumed.has(`${consumer}/${partition}/${offset}`))
        out.push({
          rule: "consumer-lost",
          message: `consumer ${consumer} p${partition}: acknowledged ${body} (offset ${offset}) is below its ack floor ${floor} but was never delivered to it`,
        });
    }
  return out;
}

/**
 * Redelivery of a message whose ack had committed: a consume of an offset below a floor that the
 * cluster reported earlier (a duplicate beyond redelivery).
 */
export function redelivered(h: HistoryEvent[]): Violation[] {
  const floors = new Map<string, number>();
  const out: Violation[] = [];
  for (const e of h) {
    const k = e.type === "consume" || e.type === "consumer-floor" ? `${e.consumer}/${e.partition}` : "";
    if (e.type === "consumer-floor") floors.set(k, Math.max(floors.get(k) ?? 0, e.floor));
    else if (e.type === "consume") {
      const floor = floors.get(k) ?? 0;
      if (e.offset < floor)
        out.push({
          rule: "redelivered",
          message: `consumer ${e.consumer} p${e.partition}: offset ${e.offset} (${e.body}) delivered again after its ack committed (ack floor ${floor})`,
        });
    }
  }
  return out;
}
