import type { ConsumeCommand, ConsumeEvent } from "../../src/engine/engine.js";
import { realTime, type WaitTime } from "./eventually.js";

export interface Received {
  partition: number;
  offset: number;
  count: number;
  body: string;
}

/**
 * Drives one durable-consumer session as a client would: send credit, acks and nacks; read
 * deliveries with a time limit; die abruptly. Works over any transport that maps to engine events.
 */
export class ConsumerDriver {
  private readonly abort = new AbortController();
  private readonly queue: ConsumeCommand[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  readonly received: Received[] = [];
  private readonly events: AsyncIterator<ConsumeEvent>;
  private pendingRead: Promise<IteratorResult<ConsumeEvent>> | undefined;

  constructor(
    open: (commands: AsyncIterable<ConsumeCommand>, signal: AbortSignal) => AsyncIterable<ConsumeEvent>,
    /** Where `take` reads the time (an in-process cluster's virtual time, or the wall clock). */
    private readonly time: WaitTime = realTime,
  ) {
    const self = this;
    async function* commands(): AsyncGenerator<ConsumeCommand> {
      for (;;) {
        const next = self.queue.shift();
        if (next) yield next;
        else if (self.ended) return;
        else await new Promise<void>((r) => (self.wake = r));
      }
    }
    this.events = open(commands(), this.abort.signal)[Symbol.asyncIterator]();
  }

  send(cmd: ConsumeCommand): void {
    this.queue.push(cmd);
    this.wake?.();
  }

  ack(...offsets: number[]): void {
    this.send({ kind: "ack", refs: offsets.map((offset) => ({ partition: 0, offset })) });
  }

  ackAll(items: Received[]): void {
    if (items.length > 0)
      this.send({ kind: "ack", refs: items.map((d) => ({ partition: d.partition, offset: d.offset })) });
  }

  /** Reads events until `n` deliveries arrived or `ms` passed. */
  async take(n: number, ms = 2000): Promise<Received[]> {
    const got: Received[] = [];
    const deadline = this.time.now() + ms;
    while (got.length < n) {
      const left = deadline - this.time.now();
      if (left <= 0) break;
      // A read that lost the race stays pending and is picked up by the next take: nothing is dropped.
      this.pendingRead ??= this.events.next();
      let r: IteratorResult<ConsumeEvent> | "timeout";
      try {
        r = await Promise.race([this.pendingRead, this.time.sleep(left).then(() => "timeout" as const)]);
      } catch (err) {
        if (this.abort.signal.aborted) return got; // killed: the stream ends here
        throw err;
      }
      if (r === "timeout") break;
      this.pendingRead = undefined;
      if (r.done) break;
      if (r.value.kind !== "delivery") continue;
      const d = {
        partition: r.value.message.partition,
        offset: r.value.message.offset,
        count: r.value.deliveryCount,
        body: new TextDecoder().decode(r.value.message.body),
      };
      got.push(d);
      this.received.push(d);
    }
    return got;
  }

  /** The client dies: the stream is cancelled without a goodbye. */
  kill(): void {
    this.abort.abort();
    this.ended = true;
    this.wake?.();
    this.pendingRead?.catch(() => undefined);
  }
}
