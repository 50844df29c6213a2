import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { Channel } from "./channel.js";
import { type GeoBrokerError, toGeoBrokerError } from "./errors.js";
import { type ReceivedMessage, receivedFromWire, type StartAt, startToWire } from "./messages.js";
import { backoffMs, sleep } from "./retry.js";
import type { Router } from "./router.js";
import type { StatusEmitter } from "./status.js";
import type { Telemetry } from "./telemetry.js";

export interface SubscribeOptions {
  topic: string;
  /** Partitions to read; default all. */
  partitions?: number[];
  /** Where to start; default "latest". After a reconnect each partition resumes after its last message. */
  start?: StartAt;
  /** Evaluate the start only after the serving replica caught up with the leader (docs/raft.md). */
  linearizableStart?: boolean;
  /** Messages buffered ahead of the reader; a full buffer stops reading from the broker. Default 1,000. */
  bufferSize?: number;
  signal?: AbortSignal;
}

/**
 * An ephemeral subscription: one Subscribe stream per partition at the nearest node, merged into one
 * async iterator. A stream that fails is reopened (at the next node) from the offset after the last
 * message it delivered, so a reconnect neither loses nor repeats a message.
 */
export class Subscription implements AsyncIterable<ReceivedMessage> {
  private readonly channel: Channel<ReceivedMessage>;
  private readonly abort = new AbortController();
  /** Per partition: the next offset to deliver, once one message was delivered. */
  private readonly next = new Map<number, bigint>();
  private started = false;

  constructor(
    private readonly router: Router,
    private readonly status: StatusEmitter,
    private readonly o: SubscribeOptions,
    private readonly telemetry?: Telemetry,
  ) {
    this.channel = new Channel(o.bufferSize ?? 1000);
    o.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** Per partition, the offset after the last message delivered. */
  get positions(): ReadonlyMap<number, bigint> {
    return this.next;
  }

  close(): void {
    this.abort.abort();
    this.channel.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    if (!this.started) {
      this.started = true;
      void this.run();
    }
    return this.channel[Symbol.asyncIterator]();
  }

  private async run(): Promise<void> {
    try {
      const partitions = this.o.partitions ?? (await this.allPartitions());
      await Promise.all(partitions.map((p) => this.follow(p)));
      this.channel.close();
    } catch (err) {
      this.channel.close(this.abort.signal.aborted ? undefined : toGeoBrokerError(err));
      this.abort.abort();
    }
  }

  private async allPartitions(): Promise<number[]> {
    await this.router.ready(this.abort.signal).catch(() => {});
    let count = this.router.partitionCount(this.o.topic);
    if (count === undefined) {
      const res = await this.router.call(
        (address, signal) =>
          this.router.client(TopicService, address).getTopic({ name: this.o.topic }, { signal }),
        { idempotent: true, signal: this.abort.signal },
      );
      count = res.topic?.partitions ?? 1;
    }
    return Array.from({ length: count }, (_, i) => i);
  }

  /** Reads one partition until closed, reopening from the next offset after each retryable failure. */
  private async follow(partition: number): Promise<void> {
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const address = this.router.candidates(this.o.topic)[0]!;
      const resumeAt = this.next.get(partition);
      try {
        const stream = this.router.client(ConsumeService, address).subscribe(
          {
            topic: this.o.topic,
            partitions: [partition],
            start: {
              position:
                resumeAt === undefined ? startToWire(this.o.start) : { case: "offset", value: resumeAt },
            },
            linearizableStart: this.o.linearizableStart === true && resumeAt === undefined,
            reportStatus: true,
          },
          { signal },
        );
        for await (const res of stream) {
          if (attempt > 0 || res.message) this.router.markUp(address);
          attempt = 0;
          if (res.status) {
            const behind = Number(
              res.status.nextOffset - (this.next.get(partition) ?? res.status.nextOffset),
            );
            this.status.emit({
              type: "lag",
              topic: this.o.topic,
              partition,
              messages: Math.max(0, behind),
              stale: res.status.stale,
            });
          }
          const m = res.message;
          if (!m) continue;
          const expected = this.next.get(partition);
          // A reopened stream starts at the resume offset; anything before it was delivered already.
          if (expected !== undefined && m.offset < expected) continue;
          this.next.set(partition, m.offset + 1n);
          const message = receivedFromWire(m, res.servedBy);
          this.telemetry?.received(message, "receive");
          if (!(await this.channel.push(message))) return;
        }
        if (signal.aborted) return;
        // The server ended the stream (a node shutting down): reopen like after a failure.
        attempt++;
        this.router.markDown(address, "subscription ended by the server", attempt);
      } catch (err) {
        if (signal.aborted) return;
        const e: GeoBrokerError = toGeoBrokerError(err);
        if (!e.retryable) throw e;
        attempt++;
        this.router.markDown(address, e.message, attempt);
      }
      await sleep(backoffMs(attempt, this.router.retryOptions), signal).catch(() => {});
    }
  }
}
