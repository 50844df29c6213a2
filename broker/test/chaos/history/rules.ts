import type { Consume, Deliver, HistoryEvent, Invoke, Ok } from "./events.js";
import { removedByRetention, retentionCut, retentionView } from "./retention.js";

// The checker's rules, one function each, every one over the whole history in time order. Each
// returns its violations as sentences that name the partition, offset, message and reader involved.

export type Rule =
  | "lost"
  | "duplicated"
  | "divergent"
  | "reordered"
  | "backwards"
  | "gap"
  | "vanished"
  | "consumer-lost"
  | "redelivered"
  | "unresumed";

export interface Violation {
  rule: Rule;
  message: string;
}

const of = <T extends HistoryEvent["type"]>(h: HistoryEvent[], type: T) =>
  h.filter((e): e is Extract<HistoryEvent, { type: T }> => e.type === type);

/** Groups values by a string key, keeping their order. */
function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** The body each acknowledged publish was invoked with (an ok names only the message id). */
function acknowledged(h: HistoryEvent[]): { ok: Ok; body: string }[] {
  const bodyOf = new Map<string, string>();
  for (const i of of(h, "invoke")) bodyOf.set(`${i.process}/${i.id}`, i.body);
  return of(h, "ok").map((ok) => {
    const body = bodyOf.get(`${ok.process}/${ok.id}`);
    if (body === undefined) throw new Error(`ok of ${ok.process}/${ok.id} without an invoke`);
    return { ok, body };
  });
}

/** Every observation of (partition, offset) -> body: acknowledgements, deliveries, consumes. */
function observations(h: HistoryEvent[]): { partition: number; offset: number; body: string; who: string }[] {
  const out = acknowledged(h).map(({ ok, body }) => ({
    partition: ok.partition,
    offset: ok.offset,
    body,
    who: `the ack to ${ok.process}`,
  }));
  for (const e of h)
    if (e.type === "deliver" || e.type === "consume")
      out.push({ partition: e.partition, offset: e.offset, body: e.body, who: readerOf(e) });
  return out;
}

const readerOf = (e: Deliver | Consume) => (e.type === "deliver" ? e.reader : `consumer ${e.consumer}`);

/** Final reads per partition: reader -> the set of bodies it holds. */
function finalReads(h: HistoryEvent[]): Map<number, Map<string, Set<string>>> {
  const out = new Map<number, Map<string, Set<string>>>();
  for (const d of of(h, "deliver")) {
    if (!d.final) continue;
    const byReader = out.get(d.partition) ?? new Map<string, Set<string>>();
    out.set(d.partition, byReader);
    const bodies = byReader.get(d.reader) ?? new Set<string>();
    byReader.set(d.reader, bodies);
    bodies.add(d.body);
  }
  return out;
}

/**
 * An acknowledged message that a final read of its partition does not hold (unless retention may
 * have removed it, retention.ts).
 */
export function lost(h: HistoryEvent[]): Violation[] {
  const finals = finalReads(h);
  const retention = retentionView(h);
  const out: Violation[] = [];
  const judged = new Set<string>(); // a retry's ok names the same message again: judge it once
  for (const { ok, body } of acknowledged(h)) {
    const key = `${ok.partition}/${ok.offset}/${body}`;
    if (judged.has(key)) continue;
    judged.add(key);
    const readers = finals.get(ok.partition);
    if (!readers || readers.size === 0) {
      out.push({
        rule: "lost",
        message: `p${ok.partition}: acknowledged ${body} (offset ${ok.offset}) has no final read`,
      });
      continue;
    }
    const missing = [...readers]
      .filter(
        ([r, bodies]) =>
          !bodies.has(body) && !removedByRetention(retention, ok.partition, ok.offset, r, ok.t),
      )
      .map(([r]) => r);
    if (missing.length)
      out.push({
        rule: "lost",
        message: `p${ok.partition}: acknowledged ${body} (offset ${ok.offset}) is missing from ${missing.join(", ")}`,
      });
  }
  return out;
}

/** One message at two offsets of a partition (retries carry their message id: never stored twice). */
export function duplicated(h: HistoryEvent[]): Violation[] {
  const out: Violation[] = [];
  for (const [key, obs] of groupBy(observations(h), (o) => `${o.partition}\u0000${o.body}`)) {
    const offsets = [...new Set(obs.map((o) => o.offset))].sort((a, b) => a - b);
    if (offsets.length > 1)
      out.push({
        rule: "duplicated",
        message: `p${obs[0]!.partition}: ${key.split("\u0000")[1]} is at offsets ${offsets.join(", ")}`,
      });
  }
  return out;
}

/** One offset holding two messages, in any two observations (acks, subscribers, consumers, final reads). */
export function divergent(h: HistoryEvent[]): Violation[] {
  const out: Violation[] = [];
  for (const obs of groupBy(observations(h), (o) => `${o.partition}/${o.offset}`).values()) {
    const bodies = new Map<string, string>();
    for (const o of obs) if (!bodies.has(o.body)) bodies.set(o.body, o.who);
    if (bodies.size > 1)
      out.push({
        rule: "divergent",
        message: `p${obs[0]!.partition} offset ${obs[0]!.offset} holds ${[...bodies].map(([b, who]) => `${b} (${who})`).join(" and ")}`,
      });
  }
  return out;
}

/**
 * Per producer and partition, real-time order: a message whose publish was invoked after another
 * message of the same producer was acknowledged must get a higher offset.
 */
export function reordered(h: HistoryEvent[]): Violation[] {
  const out: Violation[] = [];
  /** producer/partition -> the highest acknowledged offset so far, with its message. */
  const highest = new Map<string, { offset: number; id: string }>();
  /** producer/id -> what was highest when its first attempt started. */
  const floorAtInvoke = new Map<string, { offset: number; id: string } | undefined>();
  /** Deliberate retries of another process's message keep that message's offset, not a new one. */
  const retried = new Set(of(h, "invoke").flatMap((i) => (i.retry ? [i.process] : [])));
  for (const e of h) {
    if ((e.type !== "invoke" && e.type !== "ok") || retried.has(e.process)) continue;
    const stream = `${e.process}/${e.partition}`;
    const key = `${e.process}/${e.id}`;
    if (e.type === "invoke") {
      if (!floorAtInvoke.has(key)) floorAtInvoke.set(key, highest.get(stream));
      continue;
    }
    const floor = floorAtInvoke.get(key);
    if (floor && e.offset <= floor.offset)
      out.push({
        rule: "reordered",
        message: `p${e.partition}: ${e.process}'s ${e.id} acknowledged at offset ${e.offset}, not after ${floor.id} at ${floor.offset} (acknowledged before it was sent)`,
      });
    const top = highest.get(stream);
    if (!top || e.offset > top.offset) highest.set(stream, { offset: e.offset, id: e.id });
  }
  return out;
}

/**
 * A reader moving backwards: a subscriber (or final read) delivered an offset at or below one it had
 * already delivered, or a durable consumer's reported ack floor went down. (A consumer delivered
 * below its floor is `redelivered`, consumer-rules.ts.)
 */
export function backwards(h: HistoryEvent[]): Violation[] {
  const out: Violation[] = [];
  const last = new Map<string, number>();
  const floors = new Map<string, number>();
  for (const e of h) {
    if (e.type === "deliver") {
      const k = `${e.reader}/${e.partition}`;
      const prev = last.get(k);
      if (prev !== undefined && e.offset <= prev)
        out.push({
          rule: "backwards",
          message: `${e.reader} p${e.partition}: offset ${e.offset} delivered after offset ${prev}`,
        });
      last.set(k, Math.max(prev ?? -1, e.offset));
    } else if (e.type === "consumer-floor") {
      const k = `${e.consumer}/${e.partition}`;
      const prev = floors.get(k) ?? 0;
      if (e.floor < prev)
        out.push({
          rule: "backwards",
          message: `consumer ${e.consumer} p${e.partition}: ack floor went from ${prev} back to ${e.floor}`,
        });
      floors.set(k, Math.max(prev, e.floor));
    }
  }
  return out;
}

/**
 * A gap in a subscription: consecutive deliveries to one reader that skip an offset, or a first
 * delivery after a subscribe from offset f that is not f. (A subscription from "earliest" may start
 * anywhere, and one that asked for an offset that retention removed starts at the cut.)
 */
export function gap(h: HistoryEvent[]): Violation[] {
  const out: Violation[] = [];
  const expected = new Map<string, number>();
  const retention = retentionView(h);
  for (const e of h) {
    const k = e.type === "subscribe" || e.type === "deliver" ? `${e.reader}/${e.partition}` : "";
    if (e.type === "subscribe") {
      if (e.from === undefined) expected.delete(k);
      else expected.set(k, e.from);
    } else if (e.type === "deliver") {
      const want = expected.get(k);
      // A reader that resumed below the retention cut starts at the oldest retained message.
      const cutAway = e.t > retention.windowStart && e.offset <= retentionCut(retention, e.partition);
      if (want !== undefined && e.offset > want && !cutAway)
        out.push({
          rule: "gap",
          message: `${e.reader} p${e.partition}: offset ${e.offset} delivered where ${want} was next (${e.offset - want} skipped)`,
        });
      expected.set(k, Math.max(want ?? 0, e.offset + 1));
    }
  }
  return out;
}

/**
 * A read of a message that was never acknowledged and that some final read does not hold (below
 * that read's retention cut excepted): the reader saw a write that the cluster later undid (an
 * aborted or dirty read).
 */
export function vanished(h: HistoryEvent[]): Violation[] {
  const acked = new Set(acknowledged(h).map(({ ok, body }) => `${ok.partition}/${body}`));
  const finals = finalReads(h);
  const retention = retentionView(h);
  const out: Violation[] = [];
  const seen = new Set<string>();
  for (const e of h) {
    if ((e.type !== "deliver" || e.final) && e.type !== "consume") continue;
    const k = `${e.partition}/${e.body}`;
    if (acked.has(k) || seen.has(k)) continue;
    const readers = finals.get(e.partition);
    if (!readers || readers.size === 0) continue; // nothing to judge by
    seen.add(k);
    const holders = [...readers].filter(
      ([r, bodies]) => bodies.has(e.body) || removedByRetention(retention, e.partition, e.offset, r),
    ).length;
    if (holders < readers.size)
      out.push({
        rule: "vanished",
        message: `p${e.partition}: ${readerOf(e)} read unacknowledged ${e.body} at offset ${e.offset}; ${readers.size - holders} of ${readers.size} final reads do not hold it`,
      });
  }
  return out;
}

/** The invokes of a history by producer and message id (for the resume times). */
export function attemptsOf(h: HistoryEvent[]): Map<string, Invoke[]> {
  return groupBy(of(h, "invoke"), (i) => `${i.process}/${i.id}`);
}
