import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { type PublishRequest, PublishRequestSchema } from "../../../gen/geobroker/v1/publish_pb.js";
import { partitionFor } from "../engine/partitioner.js";
import type { BatchSender, PublishOutcome } from "./batch-sender.js";
import { closedError, GeoBrokerError, toGeoBrokerError } from "./errors.js";
import { backoffMs, mayRetry, sleep } from "./retry.js";
import type { Router } from "./router.js";
import type { Telemetry } from "./telemetry.js";

export interface ProducerOptions {
  /**
   * Give every message a message id (unless it has one) and retry failures whose outcome is unknown
   * with the same id: the broker deduplicates on it, so a retry never appends twice. Default true.
   * Off: only failures the broker marks retry-safe are retried.
   */
  idempotent?: boolean;
  /** How long a message may wait for others to share its batch. Default 5 ms; 0 sends at once. */
  lingerMs?: number;
  /** A batch is sent when it holds this many messages. Default 500. */
  batchMaxMessages?: number;
  /** ... or this many bytes of bodies, keys and headers. Default 1 MiB. */
  batchMaxBytes?: number;
  /** Messages accepted and not yet acknowledged; `queue` waits for room beyond it. Default 10,000. */
  maxInFlight?: number;
}

export interface OutgoingMessage {
  topic: string;
  body: Uint8Array | string;
  /** Messages with one key go to one partition, in order. */
  key?: Uint8Array | string;
  headers?: Record<string, string>;
  /** An explicit partition, overriding the key. */
  partition?: number;
  /** Your own id for deduplication; generated when the producer is idempotent and none is given. */
  messageId?: string;
}

export interface PublishResult {
  topic: string;
  partition: number;
  offset: bigint;
  /** "<topic>/<partition>/<offset>" */
  id: string;
  timestampMicros: bigint;
  messageId: string;
  /** The broker had this message id already: nothing new was appended. */
  duplicate: boolean;
  servedBy?: { region: string; nodeId: string };
}

/** A message accepted by `queue`: its acknowledgement comes later. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly result: Promise<PublishResult>;
}

interface Pending {
  request: PublishRequest;
  partition: number | undefined;
  bytes: number;
  attempt: number;
  firstSentAt: number;
  resolve(r: PublishResult): void;
  reject(e: GeoBrokerError): void;
}

interface Batch {
  address: string;
  items: Pending[];
  bytes: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const encoder = new TextEncoder();
const bytesOf = (v: Uint8Array | string | undefined) =>
  v === undefined ? new Uint8Array() : typeof v === "string" ? encoder.encode(v) : v;

/** A random 128-bit id: unique enough that two producers never share one within a dedup window. */
export function newMessageId(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * Publishes with batching (per destination node, by linger and size), a bounded number of messages
 * in flight, per-message results, and retries that keep each message's id.
 */
export class Producer {
  private readonly o: Required<ProducerOptions>;
  private readonly batches = new Map<string, Batch>();
  private inFlight = 0;
  private readonly roomWaiters: (() => void)[] = [];
  private readonly settledWaiters: (() => void)[] = [];
  private closed = false;
  private nextPartition = 0;

  constructor(
    private readonly router: Router,
    private readonly sender: BatchSender,
    options: ProducerOptions = {},
    private readonly telemetry?: Telemetry,
  ) {
    this.o = {
      idempotent: options.idempotent ?? true,
      lingerMs: options.lingerMs ?? 5,
      batchMaxMessages: options.batchMaxMessages ?? 500,
      batchMaxBytes: options.batchMaxBytes ?? 1024 * 1024,
      maxInFlight: options.maxInFlight ?? 10_000,
    };
    for (const [k, v] of Object.entries(this.o)) {
      if (typeof v === "number" && !(Number.isFinite(v) && v >= (k === "lingerMs" ? 0 : 1)))
        throw new TypeError(`producer option ${k} must be a finite number >= ${k === "lingerMs" ? 0 : 1}`);
    }
  }

  /** Messages accepted and not yet settled. */
  get pending(): number {
    return this.inFlight;
  }

  /** Publishes one message: waits for room in the in-flight window, then for its acknowledgement. */
  async send(message: OutgoingMessage): Promise<PublishResult> {
    return (await this.queue(message)).result;
  }

  /**
   * Accepts one message once the in-flight window has room (the backpressure), and returns at once
   * with its id and the promise of its acknowledgement: pipeline by awaiting `queue` and keeping the
   * results.
   */
  async queue(message: OutgoingMessage): Promise<QueuedMessage> {
    if (this.closed) throw closedError("the producer");
    while (this.inFlight >= this.o.maxInFlight) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
      if (this.closed) throw closedError("the producer");
    }
    const headers = { ...message.headers };
    const span = this.telemetry?.publish(message.topic, headers);
    const request = create(PublishRequestSchema, {
      topic: message.topic,
      body: bytesOf(message.body),
      key: bytesOf(message.key),
      headers,
      messageId: message.messageId ?? (this.o.idempotent ? newMessageId() : ""),
      ...(message.partition !== undefined ? { partition: message.partition } : {}),
    });
    this.inFlight++;
    let resolve!: (r: PublishResult) => void;
    let reject!: (e: GeoBrokerError) => void;
    const result = new Promise<PublishResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let headerBytes = 0;
    for (const [k, v] of Object.entries(request.headers)) headerBytes += k.length + v.length;
    this.add({
      request,
      partition: this.partitionOf(request),
      bytes: request.body.byteLength + request.key.byteLength + headerBytes,
      attempt: 0,
      firstSentAt: Date.now(),
      resolve: (r) =>
        this.settle(() => {
          span?.end(r);
          resolve(r);
        }),
      reject: (e) =>
        this.settle(() => {
          span?.end(undefined, e);
          reject(e);
        }),
    });
    return { messageId: request.messageId, result };
  }

  /** Sends every batch now and resolves when every accepted message is settled. */
  async flush(): Promise<void> {
    // Messages accepted while flushing (a waiter let in by an ack) are sent at once too.
    while (this.inFlight > 0) {
      for (const b of [...this.batches.values()]) this.dispatch(b);
      await new Promise<void>((r) => this.settledWaiters.push(r));
    }
  }

  /** Flushes, then ends the streams; later sends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    for (const w of this.roomWaiters.splice(0)) w();
    this.sender.close();
  }

  /**
   * The partition a message goes to, when the client can tell (explicit, or a key and a known
   * partition count), else undefined (the broker chooses). A keyless message with a message id is
   * pinned here, written into the request: the broker deduplicates per partition, so a retry must
   * land where the first attempt may have. While the topic's partition count is unknown (a topic
   * being auto-created) that is partition 0, which every topic has.
   */
  private partitionOf(r: PublishRequest): number | undefined {
    if (r.partition !== undefined) return r.partition;
    const count = this.router.partitionCount(r.topic);
    if (count === 1) return 0;
    if (r.key.byteLength > 0) return count === undefined ? undefined : partitionFor(r.key, count);
    if (r.messageId === "") return undefined;
    r.partition = count === undefined ? 0 : this.nextPartition++ % count;
    return r.partition;
  }

  private settle(done: () => void): void {
    this.inFlight--;
    done();
    this.roomWaiters.shift()?.();
    for (const w of this.settledWaiters.splice(0)) w();
  }

  private add(p: Pending): void {
    const address = this.router.candidates(p.request.topic, p.partition)[0]!;
    let b = this.batches.get(address);
    if (!b) {
      b = { address, items: [], bytes: 0, timer: undefined };
      this.batches.set(address, b);
    }
    b.items.push(p);
    b.bytes += p.bytes;
    if (b.items.length >= this.o.batchMaxMessages || b.bytes >= this.o.batchMaxBytes || this.o.lingerMs === 0)
      this.dispatch(b);
    else if (!b.timer) {
      const batch = b;
      b.timer = setTimeout(() => this.dispatch(batch), this.o.lingerMs);
    }
  }

  private dispatch(b: Batch): void {
    if (this.batches.get(b.address) === b) this.batches.delete(b.address);
    if (b.timer) clearTimeout(b.timer);
    b.timer = undefined;
    if (b.items.length === 0) return;
    const items = b.items;
    this.sender
      .send(
        b.address,
        items.map((p) => p.request),
      )
      .then(
        (outcomes) => {
          for (let i = 0; i < items.length; i++) this.outcome(b.address, items[i]!, outcomes[i]);
        },
        (err: unknown) => {
          for (const p of items) this.outcome(b.address, p, { ok: false, error: toGeoBrokerError(err) });
        },
      );
  }

  private outcome(address: string, p: Pending, o: PublishOutcome | undefined): void {
    if (o?.ok) {
      this.router.markUp(address);
      const a = o.ack;
      p.resolve({
        topic: a.topic,
        partition: a.partition,
        offset: a.offset,
        id: a.id,
        timestampMicros: a.timestampMicros,
        messageId: p.request.messageId,
        duplicate: a.duplicate,
        ...(a.servedBy ? { servedBy: { region: a.servedBy.region, nodeId: a.servedBy.nodeId } } : {}),
      });
      return;
    }
    const error = o?.error ?? new GeoBrokerError("no outcome for a publish", Code.Internal);
    const retry = this.router.retryOptions;
    const hasId = p.request.messageId !== "";
    if (!mayRetry(error, hasId) || this.closed || Date.now() - p.firstSentAt >= retry.timeoutMs) {
      p.reject(error);
      return;
    }
    p.attempt++;
    this.router.afterFailure(address, error, p.attempt, p.request.topic, p.partition);
    void sleep(backoffMs(p.attempt, retry)).then(() => this.add(p));
  }
}
