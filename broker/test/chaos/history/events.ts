// The history format of the chaos suite: one JSON object per line, one line per client event, every
// `t` from one monotonic clock (performance.now() of the test process, in ms). The checker in this
// folder reads it and imports nothing outside this folder (not the broker, not the workload), so a
// bug in the broker or in the test's own bookkeeping cannot hide itself from it.
//
// Offsets are JSON numbers (exact below 2^53). Message bodies are unique per published message (the
// workload publishes `p<partition>-<seq>`); a body is what identifies a message in every read.

/** A publish attempt started (a retry of the same message is another invoke with the same id). */
export interface Invoke {
  t: number;
  type: "invoke";
  process: string;
  partition: number;
  id: string;
  body: string;
  /**
   * A deliberate retry of a message another process had published (its id and body): its ok must
   * name the offset the message already has. Such a process is no producer for the resume times.
   */
  retry?: boolean;
}
/** The attempt was acknowledged at `offset`. */
export interface Ok {
  t: number;
  type: "ok";
  process: string;
  partition: number;
  id: string;
  offset: number;
}
/** The attempt definitely did not commit (the broker said so). */
export interface Fail {
  t: number;
  type: "fail";
  process: string;
  partition: number;
  id: string;
  error: string;
}
/** The attempt's outcome is unknown (a deadline, a broken connection): it may have committed. */
export interface Info {
  t: number;
  type: "info";
  process: string;
  partition: number;
  id: string;
  error: string;
}
/** A subscription (re)started; `from` is the offset it asked for, absent for "earliest". */
export interface Subscribe {
  t: number;
  type: "subscribe";
  reader: string;
  partition: number;
  from?: number;
}
/** A message delivered to a subscriber, or read by a final read (reader `final:<node>`). */
export interface Deliver {
  t: number;
  type: "deliver";
  reader: string;
  partition: number;
  offset: number;
  body: string;
  /** A final read: after every fault was healed, the node's whole log, read from the earliest. */
  final?: boolean;
}
/** A message delivered to a durable consumer (redelivery of an unacknowledged one is allowed). */
export interface Consume {
  t: number;
  type: "consume";
  consumer: string;
  partition: number;
  offset: number;
  body: string;
}
/**
 * The consumer sent its acknowledgement of `offset` (the protocol answers no ack: a committed ack
 * shows in the ack floor the cluster reports, `consumer-floor`).
 */
export interface Ack {
  t: number;
  type: "ack";
  consumer: string;
  partition: number;
  offset: number;
}
/**
 * The cluster reported the consumer's ack floor: every offset below `floor` is acknowledged, and that
 * acknowledgement committed (it is never delivered to the consumer again).
 */
export interface ConsumerFloor {
  t: number;
  type: "consumer-floor";
  consumer: string;
  partition: number;
  floor: number;
  /**
   * The floor after the run, once the consumer had drained every acknowledged publish: each of
   * those below it must have been delivered to the consumer at least once.
   */
  final?: boolean;
}
/**
 * The topic's retention by age was shortened to `maxAgeMs` (`start`) or given back its long limit
 * (`end`). Between the two, retention may remove a prefix of each partition: an acknowledged message
 * may then be missing below the first offset a final read holds, if it was acknowledged before the
 * window ended; nothing else may be.
 */
export interface Retention {
  t: number;
  type: "retention";
  phase: "start" | "end";
  maxAgeMs: number;
}
/** A fault began (`start`) or was healed (`heal`). */
export interface Nemesis {
  t: number;
  type: "nemesis";
  phase: "start" | "heal";
  fault: string;
  /** The fault's kind (kill-leader, pause-leader, ...), for resume times per kind. */
  kind?: string;
  /**
   * The fault took a majority of some group's replicas: no producer is due to resume before the
   * heal, and its resume time counts from the heal.
   */
  quorumLost?: boolean;
}

export type HistoryEvent =
  | Invoke
  | Ok
  | Fail
  | Info
  | Subscribe
  | Deliver
  | Consume
  | Ack
  | ConsumerFloor
  | Retention
  | Nemesis;

const fields: Record<
  HistoryEvent["type"],
  Record<string, "string" | "number" | "boolean" | "string?" | "number?" | "boolean?">
> = {
  invoke: { process: "string", partition: "number", id: "string", body: "string", retry: "boolean?" },
  ok: { process: "string", partition: "number", id: "string", offset: "number" },
  fail: { process: "string", partition: "number", id: "string", error: "string" },
  info: { process: "string", partition: "number", id: "string", error: "string" },
  subscribe: { reader: "string", partition: "number", from: "number?" },
  deliver: { reader: "string", partition: "number", offset: "number", body: "string", final: "boolean?" },
  consume: { consumer: "string", partition: "number", offset: "number", body: "string" },
  ack: { consumer: "string", partition: "number", offset: "number" },
  "consumer-floor": { consumer: "string", partition: "number", floor: "number", final: "boolean?" },
  retention: { phase: "string", maxAgeMs: "number" },
  nemesis: { phase: "string", fault: "string", kind: "string?", quorumLost: "boolean?" },
};

/**
 * Parses a history (JSON lines; blank lines skipped). A line that is not a known, well-formed event is
 * an error naming its line number: a checker that skipped what it cannot read could pass anything.
 */
export function parseHistory(text: string): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `history line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${where}: not JSON: ${line.slice(0, 120)}`);
    }
    if (typeof value !== "object" || value === null) throw new Error(`${where}: not an object`);
    const e = value as Record<string, unknown>;
    const spec = fields[e.type as HistoryEvent["type"]];
    if (!spec) throw new Error(`${where}: unknown event type ${JSON.stringify(e.type)}`);
    if (typeof e.t !== "number" || !Number.isFinite(e.t)) throw new Error(`${where}: t must be a number`);
    for (const [name, kind] of Object.entries(spec)) {
      const v = e[name];
      const optional = kind.endsWith("?");
      if (optional ? v !== undefined && typeof v !== kind.slice(0, -1) : typeof v !== kind)
        throw new Error(`${where}: ${name} must be a ${kind.replace("?", "")}`);
      if ((kind === "number" || kind === "number?") && v !== undefined && !Number.isSafeInteger(v))
        throw new Error(`${where}: ${name} must be a safe integer`);
    }
    if (e.type === "nemesis" && e.phase !== "start" && e.phase !== "heal")
      throw new Error(`${where}: phase must be start or heal`);
    if (e.type === "retention" && e.phase !== "start" && e.phase !== "end")
      throw new Error(`${where}: phase must be start or end`);
    out.push(e as unknown as HistoryEvent);
  });
  return out;
}
