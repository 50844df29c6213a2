import { readFileSync } from "node:fs";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ConsumeService } from "../../../../gen/geobroker/v1/consume_pb.js";
import type { PublishRequest, PublishResponse } from "../../../../gen/geobroker/v1/publish_pb.js";
import { PublishService } from "../../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../../gen/geobroker/v1/topic_pb.js";
import type { TlsFiles } from "../../config/config.js";
import { type CallContext, forwardedForHeader, forwardedHopsHeader } from "../../engine/engine.js";
import { errorDetailsOf } from "../../engine/errors.js";
import { http2Settings } from "../../transport/http2-windows.js";
import { type Clock, nowMs, systemClock } from "../../util/clock.js";
import { ForwardStream } from "./forward-stream.js";
import { wanDelayInterceptor } from "./wan-delay.js";

export interface ForwardClients {
  publish: Client<typeof PublishService>;
  topics: Client<typeof TopicService>;
  consume: Client<typeof ConsumeService>;
}

/**
 * Clients for calling another node's client port on behalf of a caller, when that node leads the
 * group a call must reach. The caller's own credentials travel with the call, so the leader
 * authorizes exactly what the caller may do: its `authorization` header, or for a caller that
 * authenticated with its client certificate, its name in `x-geobroker-forwarded-for`, which the
 * leader accepts only because this node connects with its peer (node) certificate.
 */
export class Forwarder {
  private readonly clients = new Map<string, ForwardClients>();
  private readonly tlsOptions: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;

  /**
   * `tls`: the client port's files (the target's server certificate is verified against `serverCa`,
   * else its CA).
   * `peer`: the node's peer certificate, presented as this node's client certificate when set (else
   * the client port's certificate, as before peer TLS existed).
   */
  constructor(
    tls: (TlsFiles & { serverCa?: string }) | undefined,
    peer?: TlsFiles,
    /** For idle-stream eviction and the simulated WAN (a virtual clock in tests). */
    private readonly clock: Clock = systemClock,
    /**
     * The simulated one-way WAN delay to a client address (config wanDelayMs by the target's
     * region; 0 for none): every message of a forwarded call waits it, each way (wan-delay.ts).
     */
    private readonly delayMsTo: (clientAddress: string) => number = () => 0,
  ) {
    const identity = peer ?? tls;
    this.tlsOptions =
      tls && identity
        ? {
            ca: readFileSync(tls.serverCa ?? tls.ca),
            cert: readFileSync(identity.cert),
            key: readFileSync(identity.key),
          }
        : undefined;
  }

  to(clientAddress: string): ForwardClients {
    let c = this.clients.get(clientAddress);
    if (!c) {
      const transport: Transport = createGrpcTransport({
        baseUrl: `${this.tlsOptions ? "https" : "http"}://${clientAddress}`,
        nodeOptions: { ...(this.tlsOptions ?? {}), settings: http2Settings },
        idleConnectionTimeoutMs: 60_000,
        interceptors: [wanDelayInterceptor(this.delayMsTo(clientAddress), this.clock)],
      });
      c = {
        publish: createClient(PublishService, transport),
        topics: createClient(TopicService, transport),
        consume: createClient(ConsumeService, transport),
      };
      this.clients.set(clientAddress, c);
    }
    return c;
  }

  private readonly streams = new Map<string, ForwardStream>();
  private lastSweepMs = 0;

  /**
   * Forwards a publish over a pipelined stream shared by the calls of one caller to one leader.
   * Streams are keyed by credentials, so every caller (every distinct authorization header) has its
   * own: idle ones are closed and forgotten, and at most `maxForwardStreams` are kept.
   */
  publish(clientAddress: string, call: CallContext, request: PublishRequest): Promise<PublishResponse> {
    const key = `${clientAddress}|${call.hops}|${call.authorization ?? ""}|${call.forwardedFor ?? ""}`;
    this.sweep();
    let stream = this.streams.get(key);
    if (!stream || stream.closed) {
      stream = new ForwardStream(this.to(clientAddress).publish, Forwarder.options(call).headers, () =>
        nowMs(this.clock),
      );
      this.streams.delete(key);
      this.streams.set(key, stream);
      while (this.streams.size > maxForwardStreams) {
        const [oldest, s] = this.streams.entries().next().value!;
        s.close();
        this.streams.delete(oldest);
      }
    }
    return stream.publish(request);
  }

  /** Forwarded publish streams open now (tests and metrics). */
  openStreams(): number {
    return this.streams.size;
  }

  /** Closes streams idle for `forwardStreamIdleMs`, at most once a second. */
  sweep(now = nowMs(this.clock)): void {
    if (now - this.lastSweepMs < 1000) return;
    this.lastSweepMs = now;
    for (const [key, s] of this.streams) {
      if (s.closed || s.idleFor(forwardStreamIdleMs, now)) {
        s.close();
        this.streams.delete(key);
      }
    }
  }

  /** Call options that carry the caller's identity and one more hop. */
  static options(call: CallContext): {
    headers: Record<string, string>;
    signal: AbortSignal;
    timeoutMs: number;
  } {
    const headers: Record<string, string> = { [forwardedHopsHeader]: String(call.hops + 1) };
    if (call.authorization) headers.authorization = call.authorization;
    else if (call.forwardedFor) headers[forwardedForHeader] = call.forwardedFor;
    return { headers, signal: call.signal, timeoutMs: 10_000 };
  }
}

/** A forwarded publish stream unused this long is closed. */
export const forwardStreamIdleMs = 60_000;
/** Forwarded publish streams kept at most (one per caller and leader); the oldest is closed first. */
export const maxForwardStreams = 1024;

/** Socket errors (Node's `code`) that mean no connection to the target was ever made. */
const noConnectionCodes = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * True when a forwarded call cannot have been acted on by its target, so retrying elsewhere cannot
 * duplicate a message: the target said so (ErrorInfo.retry_safe), or no connection to it was ever
 * made (the socket error's code, anywhere in the cause chain). A stream that broke after sending is
 * ambiguous and is not retried (the client decides; at-least-once with its message id for dedup).
 */
export function neverReachedTarget(err: unknown): boolean {
  if (!(err instanceof ConnectError) || err.code !== Code.Unavailable) return false;
  if (errorDetailsOf(err).retrySafe) return true;
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && noConnectionCodes.has(code)) return true;
    e = e.cause;
  }
  return false;
}
