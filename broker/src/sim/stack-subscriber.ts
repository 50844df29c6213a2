import { PartitionReader } from "../cluster/read/partition-reader.js";
import type { GroupId } from "../raft/types.js";
import { StackViolation } from "./stack-checks.js";
import type { NodeProcess, StackNode } from "./stack-node.js";

/**
 * A subscriber of one partition, reading through the production read path (cluster/
 * partition-reader.ts) from one node's replica, and moving to another node from its last offset when
 * that node's process dies. It checks what a subscriber is promised: offsets one after another (a
 * gap only where retention removed what came between), each offset the message every replica holds.
 */
export class StackSubscriber {
  private process: NodeProcess | undefined;
  private abort: AbortController | undefined;
  private next = 0;
  delivered = 0;
  reconnects = 0;
  /** What was delivered, checked at the end against what every replica holds. */
  private readonly seen = new Map<number, { body: string; from: string }>();

  constructor(
    readonly groupId: GroupId,
    private readonly fail: (err: Error) => void,
  ) {}

  /** The offset this subscriber reads next (everything before it was delivered or retained away). */
  get position(): number {
    return this.next;
  }

  /** Every delivered message is the one the replicas hold at its offset (a committed one). */
  verify(storedAt: (groupId: GroupId, offset: number) => string | undefined): void {
    for (const [offset, { body, from }] of this.seen) {
      const stored = storedAt(this.groupId, offset);
      if (stored !== undefined && !stored.endsWith(`|${body}`))
        throw new StackViolation(
          `subscriber of group ${this.groupId} got "${body}" at offset ${offset} from ${from}; replicas hold "${stored}"`,
        );
    }
  }

  /** Called now and then: (re)attaches to a running node that replicates the partition. */
  maintain(nodes: StackNode[], pick: <T>(items: T[]) => T | undefined): void {
    if (this.process?.clock.alive) return;
    this.abort?.abort();
    const candidates = nodes.filter((n) => n.process?.groups.partition(this.groupId) !== undefined);
    const node = pick(candidates);
    if (!node) return;
    this.reconnects++;
    this.attach(node);
  }

  private attach(node: StackNode): void {
    const process = node.process!;
    this.process = process;
    this.abort = new AbortController();
    const reader = new PartitionReader({
      store: process.store,
      // The registry's handle is the replica (it has runner and feed): the reader compares identities.
      local: (groupId) => process.groups.partition(groupId),
      staleAfterMs: 1000,
      clock: process.clock,
    });
    const signal = this.abort.signal;
    void (async () => {
      for await (const m of reader.read(
        "sim",
        this.groupId,
        0,
        { kind: "offset", offset: this.next },
        signal,
      )) {
        this.check(node, process, m.offset, Buffer.from(m.body).toString("utf8"));
      }
      // The replica here stopped (its replica moved away): read on elsewhere.
      if (this.process === process) this.process = undefined;
    })().catch((err: Error) => {
      if (!signal.aborted) this.process = undefined; // a refused read: attach again elsewhere
      void err;
    });
  }

  private check(node: StackNode, process: NodeProcess, offset: number, body: string): void {
    try {
      if (offset < this.next)
        throw new StackViolation(
          `subscriber of group ${this.groupId} got offset ${offset} after ${this.next - 1} (from ${node.id})`,
        );
      if (offset > this.next && process.store.firstOffset(this.groupId) <= this.next)
        throw new StackViolation(
          `subscriber of group ${this.groupId} skipped offsets ${this.next}..${offset - 1} that ${node.id} still retains`,
        );
      this.seen.set(offset, { body, from: node.id });
      this.next = offset + 1;
      this.delivered++;
    } catch (err) {
      this.fail(err as Error);
    }
  }
}
