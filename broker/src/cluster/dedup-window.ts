/**
 * Client message ids seen recently in one partition, for publish deduplication. Part of the
 * partition's replicated state: entries expire by log time (the commit timestamps), not by a local
 * clock, and the window is bounded in count so memory stays bounded.
 */
export class DedupWindow {
  private readonly seen = new Map<string, { offset: number; timestampMicros: number }>();

  constructor(
    private readonly windowMicros: number,
    private readonly maxEntries: number,
  ) {}

  /** The offset an id was first committed at, when still inside the window. */
  lookup(messageId: string, nowMicros: number): number | undefined {
    const hit = this.seen.get(messageId);
    if (!hit || hit.timestampMicros < nowMicros - this.windowMicros) return undefined;
    return hit.offset;
  }

  record(messageId: string, offset: number, timestampMicros: number): void {
    this.seen.delete(messageId);
    this.seen.set(messageId, { offset, timestampMicros });
    this.expire(timestampMicros);
  }

  /** Drops ids older than the window, and the oldest ones past maxEntries (Map keeps insertion order). */
  private expire(nowMicros: number): void {
    const cutoff = nowMicros - this.windowMicros;
    for (const [id, e] of this.seen) {
      if (e.timestampMicros >= cutoff && this.seen.size <= this.maxEntries) break;
      this.seen.delete(id);
    }
  }

  get size(): number {
    return this.seen.size;
  }

  toJSON(): [string, number, number][] {
    return [...this.seen].map(([id, e]) => [id, e.offset, e.timestampMicros]);
  }

  static fromJSON(rows: [string, number, number][], windowMicros: number, maxEntries: number): DedupWindow {
    const w = new DedupWindow(windowMicros, maxEntries);
    for (const [id, offset, ts] of rows) w.seen.set(id, { offset, timestampMicros: ts });
    return w;
  }
}
