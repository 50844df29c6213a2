import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  type PublishRequest,
  type PublishResponse,
  PublishService,
  type PublishStreamRequest,
  PublishStreamRequestSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import { AsyncQueue } from "../util/async-queue.js";
import { fromPublishError, GeoBrokerError, toGeoBrokerError } from "./errors.js";
import type { Router } from "./router.js";

export type PublishOutcome = { ok: true; ack: PublishResponse } | { ok: false; error: GeoBrokerError };

/**
 * Sends one batch of publishes to one node and answers one outcome per message, in order. The
 * producer depends only on this: today's sender writes one PublishStream frame per message; a
 * sender for batch frames (or a PublishBatch call) replaces it without touching the producer.
 */
export interface BatchSender {
  send(address: string, batch: readonly PublishRequest[]): Promise<PublishOutcome[]>;
  close(): void;
}

/** One open PublishStream to one node: frames out, acknowledgements matched back by sequence. */
class StreamSession {
  private readonly out = new AsyncQueue<PublishStreamRequest>();
  private readonly waiting = new Map<bigint, (o: PublishOutcome) => void>();
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
          if (res.result.case === "ack") settle({ ok: true, ack: res.result.value });
          else if (res.result.case === "error")
            settle({ ok: false, error: fromPublishError(res.result.value) });
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
      for (const settle of this.waiting.values()) settle({ ok: false, error });
      this.waiting.clear();
    })();
  }

  publish(request: PublishRequest): Promise<PublishOutcome> {
    const sequence = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(sequence, resolve);
      this.out.push(create(PublishStreamRequestSchema, { sequence, request }));
    });
  }

  close(): void {
    this.out.close();
  }
}

/** Today's sender: each message its own PublishStream frame, on one long-lived stream per node. */
export class StreamBatchSender implements BatchSender {
  private readonly sessions = new Map<string, StreamSession>();

  constructor(private readonly router: Router) {}

  send(address: string, batch: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    let s = this.sessions.get(address);
    if (!s || s.ended) {
      s = new StreamSession(this.router, address);
      this.sessions.set(address, s);
    }
    const session = s;
    return Promise.all(batch.map((r) => session.publish(r)));
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
