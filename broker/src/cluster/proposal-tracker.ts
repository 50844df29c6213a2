import { unavailable } from "../api/errors.js";

/**
 * Proposals this node made and is waiting to see applied. A proposal is matched on apply by the
 * (proposer, sequence) it carries, so it resolves whichever leader committed it; one that never
 * commits (its leader lost the entry) fails after `timeoutMs` as UNAVAILABLE, which is safe to retry.
 */
export class ProposalTracker<T> {
  private nextSequence = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: T) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(private readonly timeoutMs: number) {}

  /** A fresh sequence number and the promise its result will settle. */
  open(): { sequence: number; result: Promise<T> } {
    const sequence = this.nextSequence++;
    const result = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(sequence);
        reject(
          unavailable(`not committed within ${this.timeoutMs} ms (leader change or lost quorum); retry`),
        );
      }, this.timeoutMs);
      this.pending.set(sequence, { resolve, reject, timer });
    });
    return { sequence, result };
  }

  resolve(sequence: number, value: T): void {
    const p = this.pending.get(sequence);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(sequence);
    p.resolve(value);
  }

  reject(sequence: number, err: Error): void {
    const p = this.pending.get(sequence);
    if (!p) return;
    clearTimeout(p.timer);
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
