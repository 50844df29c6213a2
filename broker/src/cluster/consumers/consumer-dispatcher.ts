import type { ConsumeCommand, DeliveredMessage, StartSpec } from "../../engine/engine.js";
import { AsyncQueue } from "../../util/async-queue.js";
import { type Clock, every, nowMs } from "../../util/clock.js";
import { AckCursor, DeliveryTracker } from "./consumer-cursor.js";
import type { ConsumerSpec, PartitionProgress } from "./consumer-records.js";

// One durable consumer as served by one node: reads its partitions, hands messages to the attached
// sessions as their credit allows, takes acks and nacks, redelivers what times out, dead-letters what
// used up its deliveries, and flushes acks to the metadata group in batches. Memory is bounded by
// readAhead per partition plus maxInFlight, whatever the producers and consumers do.

export interface Delivery {
  message: DeliveredMessage;
  deliveryCount: number;
}

export interface DispatcherPort {
  partitions: number[];
  /** What the metadata group has committed for a partition, undefined before the consumer read it. */
  committedCursor(partition: number): { floor: number; above: number[] } | undefined;
  /** The partition's messages from start on, in offset order, until the signal aborts. */
  read(partition: number, start: StartSpec, signal: AbortSignal): AsyncIterable<DeliveredMessage>;
  commit(progress: {
    partitions: PartitionProgress[];
    redelivered: number;
    deadLettered: number;
  }): Promise<void>;
  deadLetter(message: DeliveredMessage, deliveries: number): Promise<void>;
  /** Ack deadlines and the dispatcher's timers (the node's clock). */
  clock: Clock;
  warn(message: string, fields: Record<string, unknown>): void;
}

export interface DispatcherOptions {
  /** Messages out for delivery and not yet acknowledged, over all sessions. */
  maxInFlight: number;
  /** Messages read ahead per partition, waiting for credit. */
  readAhead: number;
  /** Body bytes read ahead per partition (large messages fill this before readAhead). */
  readAheadBytes: number;
  /** How long acks gather before they are proposed as one metadata entry. */
  flushMs: number;
  /** How long the dispatcher outlives its last session, so a quick reconnect finds it warm. */
  lingerMs: number;
}

interface Outstanding {
  message: DeliveredMessage;
  session: ConsumerSession | undefined;
}

class PartitionState {
  cursor: AckCursor | undefined;
  readonly ready: DeliveredMessage[] = [];
  readyBytes = 0;
  readonly redeliver: DeliveredMessage[] = [];
  readonly outstanding = new Map<number, Outstanding>();
  /** Offsets retention removed before they were read: [from, to) skipped once the floor reaches from. */
  readonly gaps: { from: number; to: number }[] = [];
  expected: number | undefined;
  space: (() => void) | undefined;

  constructor(
    readonly partition: number,
    readonly tracker: DeliveryTracker,
  ) {}
}

/** One client stream attached to a consumer. */
export class ConsumerSession {
  credit = 0;
  private readonly queue = new AsyncQueue<Delivery>();
  closed = false;

  /** Credit only counts what the client will take; maxInFlight, not credit, bounds memory. */
  grant(n: number): void {
    this.credit = Math.min(2 ** 31, this.credit + n);
  }

  push(d: Delivery): void {
    this.queue.push(d);
  }

  close(): void {
    this.closed = true;
    this.queue.close();
  }

  deliveries(): AsyncIterable<Delivery> {
    return this.queue;
  }
}

export class ConsumerDispatcher {
  private readonly sessions: ConsumerSession[] = [];
  private readonly parts = new Map<number, PartitionState>();
  private readonly abort = new AbortController();
  private pending = new Map<number, PartitionProgress>();
  private redelivered = 0;
  private deadLettered = 0;
  private flushing: Promise<void> | undefined;
  private cancelFlush: (() => void) | undefined;
  private readonly stopDueChecks: () => void;
  private cancelLinger: (() => void) | undefined;
  private turn = 0;
  private partitionTurn = 0;
  private closed = false;

  constructor(
    private readonly spec: ConsumerSpec,
    private readonly port: DispatcherPort,
    private readonly options: DispatcherOptions,
    private readonly onClosed: () => void,
  ) {
    for (const p of port.partitions)
      this.parts.set(p, new PartitionState(p, new DeliveryTracker(spec.ackTimeoutMs, spec.maxDeliveries)));
    for (const part of this.parts.values()) void this.readLoop(part);
    this.stopDueChecks = every(port.clock, Math.min(100, Math.max(10, spec.ackTimeoutMs / 4)), () =>
      this.checkDue(),
    );
  }

  get inFlight(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.outstanding.size;
    return n;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  attach(): ConsumerSession {
    this.cancelLinger?.();
    this.cancelLinger = undefined;
    const session = new ConsumerSession();
    this.sessions.push(session);
    return session;
  }

  /** A session ended: what it held unacknowledged goes to the others at once. */
  detach(session: ConsumerSession): void {
    const at = this.sessions.indexOf(session);
    if (at < 0) return;
    this.sessions.splice(at, 1);
    session.close();
    const now = nowMs(this.port.clock);
    for (const part of this.parts.values())
      for (const [offset, o] of part.outstanding)
        if (o.session === session) {
          o.session = undefined;
          part.tracker.nacked(offset, now, 0);
        }
    this.checkDue();
    if (this.sessions.length === 0)
      this.cancelLinger = this.port.clock.after(this.options.lingerMs, () => void this.close());
  }

  handle(session: ConsumerSession, cmd: ConsumeCommand): void {
    if (cmd.kind === "credit") session.grant(cmd.credit);
    else if (cmd.kind === "ack") for (const r of cmd.refs) this.ackLocal(r.partition, r.offset);
    else {
      const now = nowMs(this.port.clock);
      for (const r of cmd.refs) this.parts.get(r.partition)?.tracker.nacked(r.offset, now, cmd.delayMs);
      if (cmd.delayMs === 0) this.checkDue();
    }
    this.pump();
  }

  /** Stops reading and flushes what is acknowledged; unacknowledged messages stay for the next dispatcher. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.stopDueChecks();
    this.cancelLinger?.();
    for (const s of [...this.sessions]) s.close();
    for (const part of this.parts.values()) part.space?.();
    this.onClosed();
    await this.flush();
  }

  private async readLoop(part: PartitionState): Promise<void> {
    const committed = this.port.committedCursor(part.partition);
    if (committed) part.cursor = AckCursor.fromJSON(committed);
    const start: StartSpec = committed ? { kind: "offset", offset: committed.floor } : this.spec.start;
    try {
      for await (const m of this.port.read(part.partition, start, this.abort.signal)) {
        if (this.closed) return;
        if (!part.cursor) {
          // The consumer's first read of this partition: its starting point is committed before any
          // message goes out, so a restart elsewhere starts at the same place.
          part.cursor = new AckCursor(m.offset);
          await this.commitNow({ partition: part.partition, from: m.offset, acked: [] });
        } else if (part.expected !== undefined && m.offset > part.expected) {
          part.gaps.push({ from: part.expected, to: m.offset });
        } else if (part.expected === undefined && m.offset > part.cursor.floor) {
          part.gaps.push({ from: part.cursor.floor, to: m.offset });
        }
        part.expected = m.offset + 1;
        this.foldGaps(part);
        if (part.cursor.isAcked(m.offset)) continue;
        while (
          (part.ready.length >= this.options.readAhead || part.readyBytes >= this.options.readAheadBytes) &&
          !this.closed
        )
          await new Promise<void>((r) => {
            part.space = r;
          });
        part.ready.push(m);
        part.readyBytes += m.body.byteLength;
        this.pump();
      }
    } catch (err) {
      if (!this.closed)
        this.port.warn("durable consumer stopped reading a partition", {
          consumer: this.spec.name,
          topic: this.spec.topic,
          partition: part.partition,
          err: (err as Error).message,
        });
      // The sessions end so their clients reconnect and a fresh dispatcher reads again.
      if (!this.closed) void this.close();
    }
  }

  private foldGaps(part: PartitionState): void {
    const cursor = part.cursor;
    if (!cursor) return;
    while (part.gaps.length > 0 && cursor.floor >= part.gaps[0]!.from) {
      const gap = part.gaps.shift()!;
      cursor.skipTo(gap.to);
      this.progress(part.partition).from = gap.to;
    }
  }

  private progress(partition: number): PartitionProgress {
    let p = this.pending.get(partition);
    if (!p) {
      p = { partition, acked: [] };
      this.pending.set(partition, p);
    }
    return p;
  }

  private ackLocal(partition: number, offset: number): void {
    const part = this.parts.get(partition);
    if (!part?.cursor || part.cursor.isAcked(offset)) return;
    // Only what was handed out can be acknowledged: an ack for an offset never delivered is ignored.
    if (!part.outstanding.has(offset) && !part.redeliver.some((m) => m.offset === offset)) return;
    part.outstanding.delete(offset);
    const queued = part.redeliver.findIndex((m) => m.offset === offset);
    if (queued >= 0) part.redeliver.splice(queued, 1);
    part.tracker.acked(offset);
    part.cursor.ack(offset);
    this.progress(partition).acked.push(offset);
    this.foldGaps(part);
    this.scheduleFlush();
  }

  private checkDue(): void {
    const now = nowMs(this.port.clock);
    for (const part of this.parts.values()) {
      const { redeliver, deadLetter } = part.tracker.due(now);
      for (const d of redeliver) {
        const o = part.outstanding.get(d.offset);
        if (!o) continue;
        part.outstanding.delete(d.offset);
        part.redeliver.push(o.message);
        this.redelivered++;
      }
      if (redeliver.length > 0) part.redeliver.sort((a, b) => a.offset - b.offset);
      for (const d of deadLetter) {
        const o = part.outstanding.get(d.offset);
        if (!o) continue;
        o.session = undefined;
        void this.port.deadLetter(o.message, d.deliveries).then(
          () => {
            this.deadLettered++;
            this.ackLocal(part.partition, d.offset);
            this.pump();
          },
          (err: Error) => {
            // Not dead-lettered: it stays due, and the next check tries again.
            part.tracker.delivered(d.offset, now);
            part.tracker.nacked(d.offset, now, 1000);
            this.port.warn("dead-lettering failed; will retry", {
              consumer: this.spec.name,
              offset: d.offset,
              err: err.message,
            });
          },
        );
      }
    }
    if (this.redelivered > 0) this.scheduleFlush();
    this.pump();
  }

  /** Hands out messages while some session has credit and the in-flight bound allows. */
  private pump(): void {
    while (!this.closed && this.inFlight < this.options.maxInFlight) {
      const session = this.nextSession();
      if (!session) return;
      const next = this.nextMessage();
      if (!next) return;
      const { part, message } = next;
      const deliveryCount = part.tracker.delivered(message.offset, nowMs(this.port.clock));
      part.outstanding.set(message.offset, { message, session });
      session.credit--;
      session.push({ message, deliveryCount });
    }
  }

  private nextSession(): ConsumerSession | undefined {
    for (let i = 0; i < this.sessions.length; i++) {
      const s = this.sessions[(this.turn + i) % this.sessions.length]!;
      if (s.credit > 0 && !s.closed) {
        this.turn = (this.turn + i + 1) % this.sessions.length;
        return s;
      }
    }
    return undefined;
  }

  /** Redeliveries first (oldest offset), then new messages, partitions in turn. */
  private nextMessage(): { part: PartitionState; message: DeliveredMessage } | undefined {
    const parts = [...this.parts.values()];
    for (const part of parts) {
      const message = part.redeliver.shift();
      if (message) return { part, message };
    }
    for (let i = 0; i < parts.length; i++) {
      const part = parts[(this.partitionTurn + i) % parts.length]!;
      const message = part.ready.shift();
      if (!message) continue;
      part.readyBytes -= message.body.byteLength;
      this.partitionTurn = (this.partitionTurn + i + 1) % parts.length;
      part.space?.();
      part.space = undefined;
      return { part, message };
    }
    return undefined;
  }

  private scheduleFlush(): void {
    if (this.cancelFlush) return;
    this.cancelFlush = this.port.clock.after(this.options.flushMs, () => {
      this.cancelFlush = undefined;
      void this.flush();
    });
  }

  private async commitNow(progress: PartitionProgress): Promise<void> {
    await this.port.commit({ partitions: [progress], redelivered: 0, deadLettered: 0 });
  }

  /** Proposes gathered acks as one entry; on failure they are kept and go with the next flush. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0 && this.redelivered === 0 && this.deadLettered === 0) return;
    const batch = {
      partitions: [...this.pending.values()],
      redelivered: this.redelivered,
      deadLettered: this.deadLettered,
    };
    this.pending = new Map();
    this.redelivered = 0;
    this.deadLettered = 0;
    this.flushing = this.port.commit(batch).catch((err: Error) => {
      for (const p of batch.partitions) {
        const mine = this.progress(p.partition);
        mine.acked.push(...p.acked);
        if (p.from !== undefined) mine.from = Math.max(mine.from ?? 0, p.from);
      }
      this.redelivered += batch.redelivered;
      this.deadLettered += batch.deadLettered;
      this.port.warn("could not commit consumer acks; retrying", {
        consumer: this.spec.name,
        err: err.message,
      });
      if (!this.closed) this.scheduleFlush();
    });
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }
}
