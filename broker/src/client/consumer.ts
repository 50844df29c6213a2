import { create } from "@bufbuild/protobuf";
import {
  AckSchema,
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumerConfig,
  ConsumerConfigSchema,
  type ConsumerInfo,
  ConsumeService,
  MessageRefSchema,
  NackSchema,
} from "../../../gen/geobroker/v1/consume_pb.js";
import { AsyncQueue } from "../util/async-queue.js";
import { Channel } from "./channel.js";
import { toGeoBrokerError } from "./errors.js";
import { type ReceivedMessage, receivedFromWire, type StartAt, startToWire } from "./messages.js";
import { backoffMs, sleep } from "./retry.js";
import type { Router } from "./router.js";
import type { Telemetry } from "./telemetry.js";

export interface ConsumerOptions {
  topic: string;
  /** The durable consumer's name: created on first use, shared by every session that names it. */
  name: string;
  /** Where a new consumer starts; ignored once it exists. Default "earliest". */
  start?: StartAt;
  /** Redeliver a message not acknowledged within this. Default: the cluster's. */
  ackTimeoutMs?: number;
  /** Dead-letter a message after this many deliveries. Default unlimited. */
  maxDeliveries?: number;
  deadLetterTopic?: string;
  /**
   * Messages this client holds unacknowledged at most: the credit it grants the broker, given back
   * one by one as messages are acked or nacked. Default 256.
   */
  maxAckPending?: number;
  signal?: AbortSignal;
}

export interface ConsumedMessage extends ReceivedMessage {
  /** 1 on first delivery. */
  deliveryCount: number;
  /** Done with it: it is not delivered again. */
  ack(): void;
  /** Deliver it again, after `delayMs` (default 0). */
  nack(o?: { delayMs?: number }): void;
}

/** The broker's configuration of a durable consumer, from the options that name it. */
export type ConsumerSettings = Pick<
  ConsumerOptions,
  "topic" | "name" | "start" | "ackTimeoutMs" | "maxDeliveries" | "deadLetterTopic"
>;

export function consumerConfig(o: ConsumerSettings): ConsumerConfig {
  return create(ConsumerConfigSchema, {
    name: o.name,
    topic: o.topic,
    start: { position: startToWire(o.start ?? "earliest") },
    ackTimeoutMs: BigInt(o.ackTimeoutMs ?? 0),
    maxDeliveries: o.maxDeliveries ?? 0,
    deadLetterTopic: o.deadLetterTopic ?? "",
  });
}

const refKey = (partition: number, offset: bigint) => `${partition}:${offset}`;

/**
 * A durable consumer session as an async iterator. Credit-based flow control: the broker sends at
 * most `maxAckPending` messages ahead of the acknowledgements. A failed stream is reopened (at the
 * next node); the broker keeps the acknowledged state, so the new session goes on from there, and
 * messages it redelivers that this client still holds are not handed out twice.
 */
export class DurableConsumer implements AsyncIterable<ConsumedMessage> {
  private readonly channel: Channel<ConsumedMessage>;
  private readonly abort = new AbortController();
  /** Delivered to the application and not yet acked or nacked. */
  private readonly held = new Set<string>();
  private requests: AsyncQueue<ConsumeRequest> | undefined;
  private started = false;
  private readonly window: number;
  /** What the broker said when the current session started. */
  info: ConsumerInfo | undefined;

  constructor(
    private readonly router: Router,
    private readonly o: ConsumerOptions,
    private readonly telemetry?: Telemetry,
  ) {
    this.window = o.maxAckPending ?? 256;
    if (!Number.isInteger(this.window) || this.window < 1 || this.window > 1_000_000)
      throw new TypeError("maxAckPending must be a whole number from 1 to 1,000,000");
    this.channel = new Channel(this.window);
    o.signal?.addEventListener("abort", () => void this.close(0), { once: true });
  }

  private closing = false;
  private running: Promise<void> | undefined;

  /**
   * Ends the session: acks and nacks already made are sent first (the request stream is closed and
   * the broker's end awaited, at most `graceMs`), then the stream is cancelled.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.requests?.close();
    this.channel.close();
    if (this.running) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.running.catch(() => {}),
        new Promise((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.abort.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsumedMessage> {
    if (!this.started) {
      this.started = true;
      this.running = this.run();
      void this.running.then(
        () => this.channel.close(),
        (err) => this.channel.close(this.abort.signal.aborted ? undefined : toGeoBrokerError(err)),
      );
    }
    return this.channel[Symbol.asyncIterator]();
  }

  /** Acks, nacks and credit made while no session is open, sent when the next one starts. */
  private readonly backlog: ConsumeRequest["request"][] = [];

  private send(request: ConsumeRequest["request"]): void {
    if (this.requests) this.requests.push(create(ConsumeRequestSchema, { request }));
    else this.backlog.push(request);
  }

  private settle(partition: number, offset: bigint, request: ConsumeRequest["request"]): void {
    if (!this.held.delete(refKey(partition, offset))) return;
    this.send(request);
    this.send({ case: "credit", value: 1 });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted && !this.closing) {
      const address = this.router.candidates(this.o.topic)[0]!;
      const requests = new AsyncQueue<ConsumeRequest>();
      this.requests = requests;
      requests.push(
        create(ConsumeRequestSchema, {
          request: { case: "start", value: consumerConfig(this.o) },
        }),
      );
      // Acks and nacks made between sessions go first. The new session's credit is the room left:
      // messages still held from an earlier one count until they are settled (each then gives one).
      for (const r of this.backlog.splice(0)) if (r.case !== "credit") this.send(r);
      const credit = this.window - this.held.size;
      if (credit > 0) this.send({ case: "credit", value: credit });
      try {
        for await (const res of this.router.client(ConsumeService, address).consume(requests, { signal })) {
          if (res.response.case === "started") {
            this.info = res.response.value;
            this.router.markUp(address);
            attempt = 0;
            continue;
          }
          if (res.response.case !== "delivery") continue;
          const d = res.response.value;
          const m = d.message;
          if (!m) continue;
          const key = refKey(m.partition, m.offset);
          // Redelivered to this session while the application still holds it from the last one.
          if (this.held.has(key)) continue;
          this.held.add(key);
          const refs = [create(MessageRefSchema, { partition: m.partition, offset: m.offset })];
          const message: ConsumedMessage = {
            ...receivedFromWire(m, res.servedBy),
            deliveryCount: d.deliveryCount,
            ack: () =>
              this.settle(m.partition, m.offset, { case: "ack", value: create(AckSchema, { refs }) }),
            nack: (n) =>
              this.settle(m.partition, m.offset, {
                case: "nack",
                value: create(NackSchema, {
                  refs,
                  delayMs: BigInt(Math.max(0, Math.floor(n?.delayMs ?? 0))),
                }),
              }),
          };
          // The reader left (or close was called): keep reading until the broker ends the stream, so
          // the acks already queued are sent rather than cancelled; what arrives now is redelivered
          // to the next session.
          this.telemetry?.received(message, "process");
          if (!(await this.channel.push(message))) void this.close();
        }
        if (signal.aborted || this.closing) return;
        attempt++;
        this.router.markDown(address, "consume stream ended by the server", attempt);
      } catch (err) {
        if (signal.aborted || this.closing) return;
        const e = toGeoBrokerError(err);
        if (!e.retryable) throw e;
        attempt++;
        this.router.markDown(address, e.message, attempt);
      } finally {
        this.requests = undefined;
        requests.close();
      }
      await sleep(backoffMs(attempt, this.router.retryOptions), signal).catch(() => {});
    }
  }
}
