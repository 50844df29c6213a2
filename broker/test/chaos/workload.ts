import { Code, ConnectError } from "@connectrpc/connect";
import { v1Clients } from "../support/clients.js";
import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import type { HistoryLog } from "./history-log.js";

// The client side of the chaos suite: publishers that retry as a real client does, and a reader that
// checks, on every node, what the publishers were promised.

type Clients = ReturnType<typeof v1Clients>;

const clientsByPort = new Map<number, Clients>();
export const clientsOf = (n: ProcessNode): Clients => {
  let c = clientsByPort.get(n.clientPort);
  if (!c) {
    c = v1Clients(n.clientPort);
    clientsByPort.set(n.clientPort, c);
  }
  return c;
};

export interface Ack {
  seq: number;
  offset: bigint;
  body: string;
  /** performance.now() when the acknowledged attempt started and when its answer came. */
  startedAt: number;
  at: number;
}

/**
 * One publisher per partition, each publishing `p<partition>-<seq>` one message at a time. A failed
 * attempt (UNAVAILABLE, a timeout, a refused connection) is retried with the same client message id
 * at the next node, until acknowledged: at-least-once, so an attempt that failed at the client may
 * still have committed, and the message can appear twice in the log. Only acknowledged messages are
 * promised, and those are what `acked` records.
 */
export class Publishers {
  readonly acked: Ack[][];
  failures = 0;
  readonly errors = new Map<string, number>();
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly topic: string,
    partitions: number,
    private readonly o: { paceMs: number; attemptTimeoutMs: number; history?: HistoryLog },
  ) {
    this.acked = Array.from({ length: partitions }, () => []);
  }

  start(): void {
    this.loops = this.acked.map((_, partition) => this.run(partition));
  }

  private async run(partition: number): Promise<void> {
    const list = this.acked[partition]!;
    let nodeIndex = partition; // spread the publishers over the nodes
    const process = `publisher-${partition}`;
    const h = this.o.history;
    for (let seq = 0; !this.stopping; seq++) {
      const body = `p${partition}-${seq}`;
      for (;;) {
        const live = this.cluster.nodes.filter((n) => n.child);
        const node = live[nodeIndex % Math.max(1, live.length)];
        const startedAt = performance.now();
        h?.record({ type: "invoke", process, partition, id: body, body });
        try {
          if (!node) throw new ConnectError(notSent, Code.Unavailable);
          const c = clientsOf(node);
          const r = await c.publish.publish(
            { topic: this.topic, partition, body: new TextEncoder().encode(body), messageId: body },
            { headers: c.headers, timeoutMs: this.o.attemptTimeoutMs },
          );
          h?.record({ type: "ok", process, partition, id: body, offset: Number(r.offset) });
          list.push({ seq, offset: r.offset, body, startedAt, at: performance.now() });
          break;
        } catch (err) {
          this.failures++;
          const e = ConnectError.from(err);
          const key = `${Code[e.code]}: ${e.rawMessage.replace(/\d+/g, "N").slice(0, 80)}`;
          // Only an attempt that never reached a broker is known not to have committed.
          const definite = e.rawMessage === notSent || /ECONNREFUSED/.test(e.rawMessage);
          h?.record({ type: definite ? "fail" : "info", process, partition, id: body, error: key });
          this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
          nodeIndex++; // a real client tries another node of its region, or another region
          if (this.stopping) return; // stopped mid-retry: this message was never promised
          await sleep(20);
        }
      }
      await sleep(this.o.paceMs);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** The first acknowledgement per partition of an attempt started at or after `since`. */
  firstAcksSince(since: number): (Ack | undefined)[] {
    return this.acked.map((list) => {
      // Acks are appended in time order; look from the end for the earliest one started after `since`.
      let found: Ack | undefined;
      for (let i = list.length - 1; i >= 0 && list[i]!.at >= since; i--)
        if (list[i]!.startedAt >= since) found = list[i];
      return found;
    });
  }

  total(): number {
    return this.acked.reduce((a, l) => a + l.length, 0);
  }
}

/**
 * Waits until every partition has acknowledged an attempt started at or after `since`; returns the
 * time that took from `since`, per partition (undefined: not within `timeoutMs`).
 */
export async function waitAllResumed(
  pubs: Publishers,
  since: number,
  timeoutMs: number,
): Promise<(number | undefined)[]> {
  const deadline = since + timeoutMs;
  for (;;) {
    const firsts = pubs.firstAcksSince(since);
    if (firsts.every(Boolean) || performance.now() > deadline)
      return firsts.map((a) => (a ? a.at - since : undefined));
    await sleep(10);
  }
}

/** The error of an attempt that found no node to send to. */
const notSent = "no node running";

export interface PartitionRead {
  offsets: bigint[];
  bodies: string[];
}

/**
 * Reads a partition from the start at one node: until offset `upTo` (the last acknowledged one) has
 * arrived, then on until no message came for `idleMs`, so that the read holds the whole log, with
 * any unacknowledged retries after the last acknowledgement (or until timeoutMs).
 */
export async function readPartition(
  node: ProcessNode,
  topic: string,
  partition: number,
  upTo: bigint,
  timeoutMs: number,
  history?: HistoryLog,
): Promise<PartitionRead> {
  const c = clientsOf(node);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const idleMs = 1000;
  let idle: NodeJS.Timeout | undefined;
  const out: PartitionRead = { offsets: [], bodies: [] };
  try {
    for await (const r of c.consume.subscribe(
      { topic, partitions: [partition], start: { position: { case: "earliest", value: true } } },
      { headers: c.headers, signal: ac.signal },
    )) {
      out.offsets.push(r.message!.offset);
      out.bodies.push(new TextDecoder().decode(r.message!.body));
      history?.record({
        type: "deliver",
        reader: `final:${node.id}`,
        partition,
        offset: Number(r.message!.offset),
        body: out.bodies.at(-1)!,
        final: true,
      });
      if (r.message!.offset >= upTo) {
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(), idleMs);
      }
    }
  } catch {
    // aborted by the timer: the checks report what is missing
  } finally {
    clearTimeout(timer);
    clearTimeout(idle);
    ac.abort();
  }
  return out;
}

/**
 * What one node's copy of a partition breaks of the promises, as readable sentences (empty: none):
 * offsets run without a gap from 0 (or, when retention may have cut, from the first one held), every
 * acknowledged message is at its acknowledged offset, and the acknowledged offsets grow in publish
 * order. `retainedBefore`: messages acknowledged before then may be missing below the first offset
 * (a short retention window ended then; retention-retry.ts).
 */
export function checkPartition(
  where: string,
  read: PartitionRead,
  acked: Ack[],
  retainedBefore = Number.NEGATIVE_INFINITY,
): string[] {
  const problems: string[] = [];
  const first = retainedBefore > Number.NEGATIVE_INFINITY ? (read.offsets[0] ?? 0n) : 0n;
  read.offsets.forEach((o, i) => {
    if (o !== first + BigInt(i)) problems.push(`${where}: offset ${o} at position ${i} (a gap or a reorder)`);
  });
  for (let i = 1; i < acked.length; i++)
    if (acked[i]!.offset <= acked[i - 1]!.offset)
      problems.push(
        `${where}: ${acked[i]!.body} acknowledged at offset ${acked[i]!.offset}, not after ${acked[i - 1]!.body} at ${acked[i - 1]!.offset}`,
      );
  for (const a of acked) {
    if (a.offset < first && a.at < retainedBefore) continue; // removed by retention
    const got = read.bodies[Number(a.offset - first)];
    if (got === undefined) problems.push(`${where}: acknowledged ${a.body} (offset ${a.offset}) is missing`);
    else if (got !== a.body)
      problems.push(`${where}: offset ${a.offset} holds ${got}, but ${a.body} was acknowledged there`);
  }
  return problems.slice(0, 20);
}

/** The first place two nodes' copies of a partition differ, compared by offset (undefined: none). */
export function firstDifference(a: PartitionRead, b: PartitionRead): string | undefined {
  const bodyAt = new Map(b.offsets.map((o, i) => [o, b.bodies[i]!]));
  for (let i = 0; i < a.offsets.length; i++) {
    const other = bodyAt.get(a.offsets[i]!);
    if (other !== undefined && other !== a.bodies[i])
      return `offset ${a.offsets[i]} holds ${a.bodies[i]} and ${other}`;
  }
  return undefined;
}

/** Bodies that appear more than once (a retried attempt that had committed after all). */
export function duplicates(read: PartitionRead): number {
  return read.bodies.length - new Set(read.bodies).size;
}

/**
 * The leader of a partition as most of the `observers` (default: every running node) see it ("" when
 * none is known).
 */
export async function leaderOf(
  cluster: ProcessCluster,
  topic: string,
  partition: number,
  observers = cluster.nodes.filter((n) => n.child),
): Promise<string> {
  const votes = new Map<string, number>();
  await Promise.all(
    observers.map(async (n) => {
      try {
        const c = clientsOf(n);
        const t = await c.topics.getTopic({ name: topic }, { headers: c.headers, timeoutMs: 1000 });
        const leader = t.topic?.partitionInfo.find((p) => p.partition === partition)?.leaderNodeId;
        if (leader) votes.set(leader, (votes.get(leader) ?? 0) + 1);
      } catch {
        // a node that cannot answer has no vote
      }
    }),
  );
  return [...votes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
}

/**
 * How long after `since` the `observers` (the majority side of a fault) agree on a leader of
 * `partition` other than `old`: the server's own recovery, without any client deadline in it.
 */
export async function waitNewLeader(
  cluster: ProcessCluster,
  topic: string,
  partition: number,
  old: string,
  observers: ProcessNode[],
  since: number,
  timeoutMs: number,
): Promise<number | undefined> {
  for (;;) {
    const leader = await leaderOf(cluster, topic, partition, observers);
    if (leader && leader !== old) return performance.now() - since;
    if (performance.now() - since > timeoutMs) return undefined;
    await sleep(25);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The simulation's seeded generator: the same seed gives the same fault schedule. */
export { seededRandom } from "../../src/raft/sim/prng.js";
