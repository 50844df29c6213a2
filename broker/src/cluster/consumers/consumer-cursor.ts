// Durable consumer positions. The replicated part (what is acknowledged) and the local part (what is
// out for delivery, when it is due again) are separate: acks go through Raft in batches, deliveries
// do not, so a failover can only cause redelivery, never loss (at-least-once).

/** Replicated: every offset below `floor` is acknowledged, plus the sparse set above it. */
export class AckCursor {
  private readonly above = new Set<number>();

  constructor(public floor: number) {}

  isAcked(offset: number): boolean {
    return offset < this.floor || this.above.has(offset);
  }

  ack(offset: number): void {
    if (offset < this.floor) return;
    this.above.add(offset);
    while (this.above.delete(this.floor)) this.floor++;
  }

  /** Moves the floor forward past messages retention removed. */
  skipTo(offset: number): void {
    if (offset <= this.floor) return;
    for (const o of this.above) if (o < offset) this.above.delete(o);
    this.floor = offset;
    while (this.above.delete(this.floor)) this.floor++;
  }

  get sparse(): number {
    return this.above.size;
  }

  toJSON(): { floor: number; above: number[] } {
    return { floor: this.floor, above: [...this.above].sort((a, b) => a - b) };
  }

  static fromJSON(j: { floor: number; above: number[] }): AckCursor {
    const c = new AckCursor(j.floor);
    for (const o of j.above) c.above.add(o);
    return c;
  }
}

export interface Due {
  offset: number;
  deliveries: number;
}

/**
 * Local: what a consumer session has handed out and not seen acknowledged. Bounded by the credit the
 * client grants, so a slow consumer holds at most `credit` messages in flight, never more.
 */
export class DeliveryTracker {
  private readonly out = new Map<number, { deliveries: number; dueMs: number }>();
  private readonly counts = new Map<number, number>();

  constructor(
    private readonly ackTimeoutMs: number,
    private readonly maxDeliveries: number,
  ) {}

  get inFlight(): number {
    return this.out.size;
  }

  /** Records a delivery; returns its delivery count (1 on the first). */
  delivered(offset: number, nowMs: number): number {
    const deliveries = (this.counts.get(offset) ?? 0) + 1;
    this.counts.set(offset, deliveries);
    this.out.set(offset, { deliveries, dueMs: nowMs + this.ackTimeoutMs });
    return deliveries;
  }

  acked(offset: number): void {
    this.out.delete(offset);
    this.counts.delete(offset);
  }

  /** A nack: due again after `delayMs`. */
  nacked(offset: number, nowMs: number, delayMs: number): void {
    const o = this.out.get(offset);
    if (o) o.dueMs = nowMs + delayMs;
  }

  /**
   * What must go out again now, oldest offset first, split into redeliveries and messages that used up
   * maxDeliveries (for the dead-letter topic). Both leave the in-flight set.
   */
  due(nowMs: number): { redeliver: Due[]; deadLetter: Due[] } {
    const redeliver: Due[] = [];
    const deadLetter: Due[] = [];
    for (const [offset, o] of this.out) {
      if (o.dueMs > nowMs) continue;
      this.out.delete(offset);
      if (this.maxDeliveries > 0 && o.deliveries >= this.maxDeliveries)
        deadLetter.push({ offset, deliveries: o.deliveries });
      else redeliver.push({ offset, deliveries: o.deliveries });
    }
    const byOffset = (a: Due, b: Due) => a.offset - b.offset;
    return { redeliver: redeliver.sort(byOffset), deadLetter: deadLetter.sort(byOffset) };
  }

  /** The earliest time anything is due, for the session's timer. */
  nextDueMs(): number | undefined {
    let next: number | undefined;
    for (const o of this.out.values()) if (next === undefined || o.dueMs < next) next = o.dueMs;
    return next;
  }
}
