import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import {
  type PublishRequest,
  type PublishResponse,
  type PublishService,
  type PublishStreamRequest,
  PublishStreamRequestSchema,
} from "../../../../gen/geobroker/v1/publish_pb.js";
import { BrokerError, detailsOfInfo } from "../../engine/errors.js";

/**
 * One pipelined PublishStream to a leader, carrying many forwarded publishes of one caller (one set
 * of credentials): far cheaper than a unary call per message. Fails every pending publish as
 * UNAVAILABLE when the stream breaks; the owner opens a new one for the next publish.
 */
export class ForwardStream {
  private readonly queue: PublishStreamRequest[] = [];
  private readonly pending = new Map<
    bigint,
    { resolve: (r: PublishResponse) => void; reject: (e: Error) => void }
  >();
  private wake: (() => void) | undefined;
  private sequence = 0n;
  private lastUsedMs: number;
  closed = false;

  constructor(
    client: Client<typeof PublishService>,
    headers: Record<string, string>,
    /** Milliseconds on the node's clock, for the idle check. */
    private readonly nowMs: () => number,
  ) {
    this.lastUsedMs = nowMs();
    void this.run(client, headers);
  }

  publish(request: PublishRequest): Promise<PublishResponse> {
    if (this.closed) return Promise.reject(new ConnectError("forwarding stream closed", Code.Unavailable));
    const sequence = this.sequence++;
    this.lastUsedMs = this.nowMs();
    return new Promise((resolve, reject) => {
      this.pending.set(sequence, { resolve, reject });
      this.queue.push(create(PublishStreamRequestSchema, { sequence, request }));
      this.wake?.();
      this.wake = undefined;
    });
  }

  /** No publish in flight and none for `ms`: the forwarder closes it (a caller gone, credentials rotated). */
  idleFor(ms: number, now = this.nowMs()): boolean {
    return this.pending.size === 0 && now - this.lastUsedMs >= ms;
  }

  /** Ends the stream once what is queued is sent; later publishes open a new one. */
  close(): void {
    this.closed = true;
    this.wake?.();
    this.wake = undefined;
  }

  private async *requests(): AsyncGenerator<PublishStreamRequest> {
    while (!this.closed) {
      while (this.queue.length > 0) yield this.queue.shift()!;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private async run(client: Client<typeof PublishService>, headers: Record<string, string>): Promise<void> {
    let failure: Error = new ConnectError("forwarding stream ended", Code.Unavailable);
    try {
      for await (const res of client.publishStream(this.requests(), { headers })) {
        const p = this.pending.get(res.sequence);
        if (!p) continue;
        this.pending.delete(res.sequence);
        if (res.result.case === "ack") p.resolve(res.result.value);
        else
          p.reject(
            new BrokerError(
              res.result.value?.message ?? "publish failed",
              (res.result.value?.code ?? Code.Unknown) as Code,
              detailsOfInfo(res.result.value?.info),
            ),
          );
      }
    } catch (err) {
      failure =
        err instanceof ConnectError
          ? new ConnectError(err.rawMessage, Code.Unavailable, undefined, undefined, err.cause ?? err)
          : (err as Error);
    } finally {
      this.closed = true;
      this.wake?.();
      for (const p of this.pending.values()) p.reject(failure);
      this.pending.clear();
    }
  }
}
