import type { DedupChanges, DedupRecord } from "../../engine/ports.js";

/** How long, and how many, client message ids a partition remembers. */
export interface DedupParams {
  windowMicros: number;
  maxIds: number;
}

/**
 * What a publish batch without its own parameters (encoded before batches carried them) is
 * deduplicated with: the cluster defaults of that time, the same constants on every replica, never
 * a node's configuration (which would differ between replicas).
 */
export const legacyDedupParams: DedupParams = { windowMicros: 120_000_000, maxIds: 100_000 };

/**
 * Client message ids seen recently in one partition, for publish deduplication. It is replicated
 * state, a pure function of the log: every publish batch brings its commit timestamp and the window
 * parameters its proposer had, ids leave the window only at a batch (older than its window, or
 * oldest beyond its cap), and the rows are stored with the messages and carried in snapshots, so
 * every replica holds the same ids whatever happened to it (restarts, snapshots, retention).
 *
 * Ids are kept in offset order (the order they were recorded in), which is also timestamp order:
 * eviction always takes the oldest first.
 */
export class DedupWindow {
  private readonly seen = new Map<string, { offset: number; timestampMicros: number }>();
  private put = new Map<number, DedupRecord>();
  private drop = new Set<number>();

  /** `rows` oldest first, as stored. */
  constructor(rows: readonly DedupRecord[] = []) {
    for (const r of rows)
      this.seen.set(r.messageId, { offset: r.offset, timestampMicros: r.timestampMicros });
  }

  /** Before a batch committed at `nowMicros`: the ids older than its window leave. */
  expire(nowMicros: number, params: DedupParams): void {
    const cutoff = nowMicros - params.windowMicros;
    this.evictWhile((e) => e.timestampMicros < cutoff);
  }

  /** After a batch: the oldest ids beyond its cap leave. */
  trim(params: DedupParams): void {
    this.evictWhile(() => this.seen.size > Math.max(0, params.maxIds));
  }

  /** The offset an id was first committed at, while it is in the window. */
  lookup(messageId: string): number | undefined {
    return this.seen.get(messageId)?.offset;
  }

  record(messageId: string, offset: number, timestampMicros: number): void {
    const old = this.seen.get(messageId);
    if (old) this.forget(messageId, old.offset);
    this.seen.set(messageId, { offset, timestampMicros });
    this.put.set(offset, { messageId, offset, timestampMicros });
  }

  /** The changes since the last call, to be written in the batch that applies them. */
  takeChanges(): DedupChanges {
    const changes = { put: [...this.put.values()], drop: [...this.drop] };
    this.put = new Map();
    this.drop = new Set();
    return changes;
  }

  get size(): number {
    return this.seen.size;
  }

  /** The window, oldest first. */
  rows(): DedupRecord[] {
    return [...this.seen].map(([messageId, e]) => ({ messageId, ...e }));
  }

  private evictWhile(leaves: (e: { offset: number; timestampMicros: number }) => boolean): void {
    for (const [id, e] of this.seen) {
      if (!leaves(e)) break;
      this.forget(id, e.offset);
    }
  }

  private forget(messageId: string, offset: number): void {
    this.seen.delete(messageId);
    // A row recorded since the last write never reaches the disk; an older one is deleted there.
    if (!this.put.delete(offset)) this.drop.add(offset);
  }
}
