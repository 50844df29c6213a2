import { randomBytes } from "node:crypto";
import { unavailable } from "../../engine/errors.js";
import { type Clock, systemClock } from "../../util/clock.js";

/**
 * Proposals this node made and is waiting to see applied. A proposal is matched on apply by the
 * (proposer, sequence) it carries, so it resolves whichever leader committed it; one that never
 * commits (its leader lost the entry) fails after `timeoutMs` as UNAVAILABLE, which is safe to retry.
 *
 * `proposer` names this tracker, not just its node: the node id and a random part drawn anew in
 * every process. Sequences restart at 1 in each process, so with the node id alone a leader that
 * had persisted proposals, crashed and won again would resolve its new proposals with its old
 * entries' results (and an ack could name a message that is in no log).
 */
export class ProposalTracker<T> {
  readonly proposer: string;
  private nextSequence = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: T) => void; reject: (e: Error) => void; cancel: () => void }
  >();

  constructor(
    nodeId: string,
    private readonly timeoutMs: number,
    private readonly clock: Clock = systemClock,
    nonce: string = randomBytes(8).toString("hex"),
  ) {
    this.proposer = `${nodeId}/${nonce}`;
  }

  /** A fresh sequence number and the promise its result will settle. */
  open(): { sequence: number; result: Promise<T> } {
    const sequence = this.nextSequence++;
    const result = new Promise<T>((resolve, reject) => {
      const cancel = this.clock.after(this.timeoutMs, () => {
        this.pending.delete(sequence);
        reject(
          unavailable(`not committed within ${this.timeoutMs} ms (leader change or lost quorum); retry`),
        );
      });
      this.pending.set(sequence, { resolve, reject, cancel });
    });
    return { sequence, result };
  }

  resolve(sequence: number, value: T): void {
    const p = this.pending.get(sequence);
    if (!p) return;
    p.cancel();
    this.pending.delete(sequence);
    p.resolve(value);
  }

  reject(sequence: number, err: Error): void {
    const p = this.pending.get(sequence);
    if (!p) return;
    p.cancel();
    this.pending.delete(sequence);
    p.reject(err);
  }

  rejectAll(err: Error): void {
    for (const sequence of [...this.pending.keys()]) this.reject(sequence, err);
  }

  get size(): number {
    return this.pending.size;
  }
}
