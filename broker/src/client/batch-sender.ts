import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  type PublishRequest,
  type PublishResponse,
  PublishService,
  type PublishStreamRequest,
  PublishStreamRequestSchema,
  type PublishStreamResponse,
} from "../../../gen/geobroker/v1/publish_pb.js";
import { AsyncQueue } from "../util/async-queue.js";
import { fromPublishError, GeoBrokerError, toGeoBrokerError } from "./errors.js";
import type { Router } from "./router.js";

export type PublishOutcome = { ok: true; ack: PublishResponse } | { ok: false; error: GeoBrokerError };

/**
 * Sends one batch of publishes to one node and answers one outcome per message, in order. The
 * producer depends only on this: the stream sender writes a batch as one PublishStream batch frame
 * (one Raft entry per partition on the leader); the unary one, for browsers, a Publish per message.
 */
export interface BatchSender {
  send(address: string, batch: readonly PublishRequest[]): Promise<PublishOutcome[]>;
  close(): void;
}

/** What answers one frame: a single message's outcome, or a batch frame's response. */
type FrameWaiter = (answer: { response: PublishStreamResponse } | { error: GeoBrokerError }) => void;

/** One open PublishStream to one node: frames out, answers matched back by sequence. */
class StreamSession {
  private readonly out = new AsyncQueue<PublishStreamRequest>();
  private readonly waiting = new Map<bigint, FrameWaiter>();
  private next = 1n;
  ended = false;

  constructor(router: Router, address: string) {
    const stream = router.client(PublishService, address).publishStream(this.out);
    void (async () => {
      let failure: GeoBrokerError | undefined;
      try {
        for await (const res of stream) {
          const settle = this.waiting.get(res.sequence);
          if (!settle) continue;
          this.waiting.delete(res.sequence);
          settle({ response: res });
        }
      } catch (err) {
        failure = toGeoBrokerError(err);
      }
      this.ended = true;
      this.out.close();
      // Publishes left unanswered may or may not have been appended: UNAVAILABLE and not retry-safe,
      // so the producer sends them again only with their message ids.
      const error =
        failure ?? new GeoBrokerError("publish stream ended with publishes unanswered", Code.Unavailable);
      for (const settle of this.waiting.values()) settle({ error });
      this.waiting.clear();
    })();
  }

  /** Sends one frame; resolves with its answer (a response, or why the stream ended first). */
  private frame(
    fields: { request: PublishRequest } | { batch: PublishRequest[] },
  ): Promise<{ response: PublishStreamResponse } | { error: GeoBrokerError }> {
    const sequence = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(sequence, resolve);
      this.out.push(create(PublishStreamRequestSchema, { sequence, ...fields }));
    });
  }

  async publish(request: PublishRequest): Promise<PublishOutcome> {
    const answer = await this.frame({ request });
    if ("error" in answer) return { ok: false, error: answer.error };
    return singleOutcome(answer.response);
  }

  /**
   * The batch as one frame, a result per message. A frame refused whole (its bounds, a topic the
   * caller may not publish to, a broker from before batch frames that asks for `request`) appended
   * nothing: its messages are then sent one per frame, so each gets its own answer.
   */
  async publishBatch(batch: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    if (batch.length === 1) return [await this.publish(batch[0]!)];
    const answer = await this.frame({ batch: [...batch] });
    if ("error" in answer) return batch.map(() => ({ ok: false, error: answer.error }));
    const results = answer.response.batchResults;
    if (results.length === batch.length)
      return results.map((r): PublishOutcome => {
        if (r.result.case === "ack") return { ok: true, ack: r.result.value };
        if (r.result.case === "error") return { ok: false, error: fromPublishError(r.result.value) };
        return { ok: false, error: new GeoBrokerError("a batch result without an outcome", Code.Internal) };
      });
    return Promise.all(batch.map((r) => this.publish(r)));
  }

  close(): void {
    this.out.close();
  }
}

/** A single message's frame, answered by `ack` or `error`. */
function singleOutcome(res: PublishStreamResponse): PublishOutcome {
  if (res.result.case === "ack") return { ok: true, ack: res.result.value };
  if (res.result.case === "error") return { ok: false, error: fromPublishError(res.result.value) };
  return { ok: false, error: new GeoBrokerError("a publish answer without an outcome", Code.Internal) };
}

/** The sender for transports that stream requests: a batch is one frame on a long-lived stream per node. */
export class StreamBatchSender implements BatchSender {
  private readonly sessions = new Map<string, StreamSession>();

  constructor(private readonly router: Router) {}

  send(address: string, batch: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    let s = this.sessions.get(address);
    if (!s || s.ended) {
      s = new StreamSession(this.router, address);
      this.sessions.set(address, s);
    }
    return s.publishBatch(batch);
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}

/**
 * For transports without request streaming (fetch in browsers: Connect-Web and gRPC-Web): each
 * message of a batch is its own unary Publish, all in flight at once.
 */
export class UnaryBatchSender implements BatchSender {
  constructor(private readonly router: Router) {}

  send(address: string, batch: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    const client = this.router.client(PublishService, address);
    return Promise.all(
      batch.map((r) =>
        client.publish(r).then(
          (ack): PublishOutcome => ({ ok: true, ack }),
          (err: unknown): PublishOutcome => ({ ok: false, error: toGeoBrokerError(err) }),
        ),
      ),
    );
  }

  close(): void {}
}
