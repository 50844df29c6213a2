import type { NodeId } from "./types.js";

// Linearizable reads without a log entry (etcd's read_only.go, ReadOnlySafe): the leader notes its
// commit index when a read arrives, then confirms with a heartbeat round carrying the read's context
// that a quorum still follows it. Once confirmed, the read may be served at that index: no other
// leader can have committed anything newer.

export interface ReadRequest {
  /** The leader's commit index when the read arrived: the reader waits until it has applied this. */
  index: number;
  from: NodeId;
  context: Uint8Array;
  /** The context as a string, to match heartbeat responses. */
  key: string;
  /** The voters that confirmed leadership for this read (the leader first). */
  acks: NodeId[];
}

function contextKey(c: Uint8Array): string {
  return Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString("base64");
}

/** The leader's reads waiting for confirmation, oldest first. Reset with every change of term or role. */
export class ReadOnly {
  private requests: ReadRequest[] = [];
  private beforeCommit: { from: NodeId; context: Uint8Array }[] = [];

  reset(): void {
    this.requests = [];
    this.beforeCommit = [];
  }

  /** Starts confirming a read at `index`; the caller sends the heartbeats that carry its context. */
  add(index: number, from: NodeId, context: Uint8Array, self: NodeId): void {
    this.requests.push({ index, from, context, key: contextKey(context), acks: [self] });
  }

  /**
   * A voter's heartbeat response carrying `context`: once a quorum confirmed that read, it and every
   * older one are safe, and are returned (oldest first) to be answered.
   */
  ack(from: NodeId, context: Uint8Array, isVoter: boolean, quorum: number): ReadRequest[] {
    const key = contextKey(context);
    const at = this.requests.findIndex((r) => r.key === key);
    if (at < 0) return [];
    const req = this.requests[at]!;
    if (isVoter && !req.acks.includes(from)) req.acks.push(from);
    if (req.acks.length < quorum) return [];
    return this.requests.splice(0, at + 1);
  }

  /** Holds a read until this term's first entry commits: before that the commit index may be behind. */
  deferUntilCommit(from: NodeId, context: Uint8Array): void {
    this.beforeCommit.push({ from, context });
  }

  /** The reads held by deferUntilCommit, handed over once (empty when there are none). */
  takeDeferred(): { from: NodeId; context: Uint8Array }[] {
    if (this.beforeCommit.length === 0) return [];
    const waiting = this.beforeCommit;
    this.beforeCommit = [];
    return waiting;
  }
}
