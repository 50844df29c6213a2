import http2 from "node:http2";
import type { PeerCertificate } from "node:tls";
import type { Logger } from "../observability/logger.js";
import type { Message, NodeId } from "../raft/types.js";
import { MessageType } from "../raft/types.js";
import { canEncodeDirectly, encodeFramedBatch } from "./batch-encoder.js";
import type { ControlCodec } from "./control-codec.js";
import { encodeBatch } from "./convert.js";
import { FrameReader, frame } from "./framing.js";
import { http2Settings, widenWindow } from "./http2-windows.js";
import { installSnapshotPath, snapshotFrames } from "./snapshot-stream.js";

// One node's outbound side of the peer port: a link per peer that batches Raft messages onto one
// HTTP/2 stream, sends snapshots in chunks and internal requests (Control) as calls, and redials.

export const streamPath = "/geobroker.raft.v1.PeerService/Stream";
/** Internal requests between nodes (metadata proposals, cluster views): trusted as peer traffic. */
export const controlPath = "/geobroker.raft.v1.PeerService/Control";
/**
 * On the response headers of Stream and Control: this node speaks the Control rpc in protobuf
 * (raft.proto). A peer that has not said so is a build before docs/decisions/0026, and gets JSON.
 */
export const controlFormatHeader = "geobroker-control";
export const nodeIdHeader = "geobroker-node-id";
export const peerAddressHeader = "geobroker-peer-address";
export const minBackoffMs = 50;
export const maxBackoffMs = 2000;
/**
 * A connection whose peer vanished without a FIN or RST (its pod's network was torn down, its
 * machine lost power, a partition) looks healthy to the sender until TCP gives up, minutes later.
 * An HTTP/2 PING every second that must be answered within a few seconds finds it; the link is then
 * dropped and redialled, which also re-resolves the peer's name (a rescheduled pod's new address).
 * Found on Kubernetes: a deleted broker pod's replacement waited 70 s for its peers to notice.
 */
export const pingIntervalMs = 1000;
export const pingTimeoutMs = 6000;
/**
 * Pings watch a link that is up; a dial that never gets up needs its own bound. Redialled right after
 * a peer's pod went away, its name may still resolve to the vanished address (headless Services
 * publish not-ready addresses): TCP then retries the SYN for ~2 min (issue 21's rolling update).
 */
export const connectTimeoutMs = pingTimeoutMs;
/** Per peer: beyond this many queued bytes the oldest batches are dropped (Raft retransmits). */
export const maxQueuedBytes = 64 * 1024 * 1024;

/** What a link needs from the transport that owns it (PeerTransport). */
export interface LinkOwner {
  readonly nodeId: NodeId;
  readonly logger: Logger | undefined;
  readonly control: ControlCodec;
  readonly advertisedAddress: string | undefined;
  readonly tlsMaterial: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
  /** Whether the server reached for node `expected` presented that node's certificate. */
  checkPeerIdentity(expected: NodeId, cert: PeerCertificate): Error | undefined;
  delayTo(id: NodeId): number;
  reportUnreachable(id: NodeId): void;
  snapshotStatus(groupId: number, to: NodeId, ok: boolean): void;
}

export interface PeerStats {
  sentBatches: number;
  sentMessages: number;
  droppedBatches: number;
  reconnects: number;
  /** Links dropped because the peer stopped answering pings (a silently dead connection). */
  pingTimeouts: number;
  /** Dials given up because the connection (TCP and TLS handshake) was not up within connectTimeoutMs. */
  connectTimeouts: number;
  connected: boolean;
  /** The peer said it speaks protobuf Control on this connection (controlFormatHeader). */
  controlProto: boolean;
}

/** One outbound stream to one peer: batches queue while it (re)connects. */
export class PeerLink {
  private session: http2.ClientHttp2Session | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private outbox: Message[] = [];
  private flushScheduled = false;
  private backoffMs = minBackoffMs;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingSentAt: number | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private unansweredDials = 0;
  readonly stats: PeerStats = {
    sentBatches: 0,
    sentMessages: 0,
    droppedBatches: 0,
    reconnects: 0,
    pingTimeouts: 0,
    connectTimeouts: 0,
    connected: false,
    controlProto: false,
  };

  constructor(
    private readonly id: NodeId,
    private address: string,
    private readonly owner: LinkOwner,
  ) {}

  setAddress(address: string): void {
    if (address === this.address) return;
    this.address = address;
    this.teardown();
  }

  enqueue(m: Message): void {
    if (m.type === MessageType.Snapshot) {
      this.sendSnapshot(m);
      return;
    }
    this.outbox.push(m);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything sent to this peer in this turn of the event loop travels in one frame.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const messages = this.outbox;
    this.outbox = [];
    if (messages.length === 0 || this.closed) return;
    let frames: Uint8Array[];
    try {
      frames = batchFrames(this.owner.nodeId, messages);
    } catch (err) {
      // A message that cannot be encoded is a bug upstream; dropping it is safe (Raft retransmits),
      // crashing the node is not.
      this.owner.logger?.error("dropping a batch that cannot be encoded", {
        to: this.id,
        err: (err as Error).message,
      });
      return;
    }
    const delay = this.owner.delayTo(this.id);
    this.stats.sentMessages += messages.length;
    // Equal delays keep batch order: timers of one duration fire in the order they were set.
    for (const bytes of frames) {
      if (delay > 0) setTimeout(() => this.write(bytes), delay);
      else this.write(bytes);
    }
  }

  /** A snapshot goes on its own InstallSnapshot stream, in chunks, so it never blocks Raft traffic. */
  private sendSnapshot(m: Message): void {
    const done = (ok: boolean) => this.owner.snapshotStatus(m.groupId, this.id, ok);
    if (!this.ensureStream() || !this.session) {
      done(false);
      return;
    }
    let finished = false;
    const finish = (ok: boolean) => {
      if (finished) return;
      finished = true;
      done(ok);
    };
    const stream = this.session.request({
      ":method": "POST",
      ":path": installSnapshotPath,
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    stream.on("trailers", (trailers) => finish(trailers["grpc-status"] === "0"));
    stream.on("error", () => finish(false));
    stream.on("close", () => finish(false));
    stream.resume();
    const frames = snapshotFrames(this.owner.nodeId, m);
    const pump = () => {
      for (let f = frames.next(); !f.done; f = frames.next()) {
        if (!stream.write(f.value)) {
          stream.once("drain", pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  }

  /**
   * One internal request (a ControlRequest) on the peer connection; resolves with the
   * ControlResponse, rejects after timeoutMs or when the call itself fails. A peer that has not said
   * it speaks protobuf Control gets the request as JSON, and its JSON answer or failure text comes
   * back as the ControlResponse it means.
   */
  call(body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!this.ensureStream() || !this.session)
      return Promise.reject(new Error(`peer ${this.id} not connected`));
    const legacy = !this.stats.controlProto;
    const stream = this.session.request({
      ":method": "POST",
      ":path": controlPath,
      "content-type": "application/grpc+proto",
      te: "trailers",
      [nodeIdHeader]: this.owner.nodeId,
    });
    return new Promise((resolve, reject) => {
      const reader = new FrameReader();
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new Error(`peer ${this.id} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      let answer: Uint8Array | undefined;
      stream.on("response", (headers) => this.noteControlFormat(headers));
      stream.on("data", (chunk: Buffer) => {
        for (const payload of reader.push(chunk)) answer = payload;
      });
      stream.on("trailers", (trailers) => {
        clearTimeout(timer);
        const status = trailers["grpc-status"];
        const message = decodeURIComponent(
          String(trailers["grpc-message"] ?? `peer ${this.id} refused the request`),
        );
        try {
          if (status === "0" && answer) resolve(legacy ? this.owner.control.fromLegacy(answer) : answer);
          // An older build's handler failed: its text is the outcome (a leader hint in it).
          else if (legacy && status === "9") resolve(this.owner.control.legacyFailure(message));
          else reject(new Error(message));
        } catch (err) {
          reject(err);
        }
      });
      stream.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on("close", () => {
        clearTimeout(timer);
        reject(new Error(`peer ${this.id} closed the request`));
      });
      stream.end(frame(legacy ? this.owner.control.toLegacy(body) : body));
    });
  }

  private noteControlFormat(headers: http2.IncomingHttpHeaders): void {
    if (headers[controlFormatHeader] === "proto") this.stats.controlProto = true;
  }

  private write(bytes: Uint8Array): void {
    if (this.closed) return;
    const stream = this.ensureStream();
    if (stream && this.queue.length === 0 && !stream.writableNeedDrain) {
      stream.write(bytes);
      this.stats.sentBatches++;
      return;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    while (this.queuedBytes > maxQueuedBytes && this.queue.length > 1) {
      this.queuedBytes -= this.queue.shift()!.byteLength;
      this.stats.droppedBatches++;
    }
  }

  private drain(): void {
    const stream = this.stream;
    while (stream && this.queue.length > 0 && !stream.writableNeedDrain) {
      const bytes = this.queue.shift()!;
      this.queuedBytes -= bytes.byteLength;
      stream.write(bytes);
      this.stats.sentBatches++;
    }
  }

  private ensureStream(): http2.ClientHttp2Stream | undefined {
    if (this.stream) return this.stream;
    if (this.reconnectTimer) return undefined;
    try {
      const tls = this.owner.tlsMaterial;
      const session = http2.connect(
        `${tls ? "https" : "http"}://${this.address}`,
        tls
          ? {
              ...tls,
              servername: undefined,
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                this.owner.checkPeerIdentity(this.id, cert),
              settings: http2Settings,
            }
          : { settings: http2Settings },
      );
      widenWindow(session);
      session.on("error", () => this.fail());
      session.on("close", () => this.fail());
      session.on("connect", () => {
        clearTimeout(this.connectTimer);
        this.unansweredDials = 0;
        this.backoffMs = minBackoffMs;
        this.stats.connected = true;
        this.startPings(session);
      });
      this.watchConnect(session);
      const stream = session.request({
        ":method": "POST",
        ":path": streamPath,
        "content-type": "application/grpc+proto",
        te: "trailers",
        [nodeIdHeader]: this.owner.nodeId,
        ...(this.owner.advertisedAddress ? { [peerAddressHeader]: this.owner.advertisedAddress } : {}),
      });
      stream.on("response", (headers) => this.noteControlFormat(headers));
      stream.on("error", () => this.fail());
      stream.on("close", () => this.fail());
      stream.on("drain", () => this.drain());
      stream.resume();
      this.session = session;
      this.stream = stream;
      return stream;
    } catch {
      this.fail();
      return undefined;
    }
  }

  private watchConnect(session: http2.ClientHttp2Session): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (this.session !== session || this.stats.connected) return;
      // Said once per outage: a lost peer is redialled every few seconds until it is removed.
      const level = this.unansweredDials++ === 0 ? "warn" : "debug";
      this.owner.logger?.[level]("peer dial not connected in time; redialling", {
        to: this.id,
        address: this.address,
        waitedMs: connectTimeoutMs,
      });
      this.stats.connectTimeouts++;
      this.fail();
    }, connectTimeoutMs);
    this.connectTimer.unref();
  }

  private startPings(session: http2.ClientHttp2Session): void {
    clearInterval(this.pingTimer);
    this.pingSentAt = undefined;
    this.pingTimer = setInterval(() => {
      if (this.session !== session) return;
      if (this.pingSentAt !== undefined) {
        const waited = Date.now() - this.pingSentAt;
        if (waited <= pingTimeoutMs) return;
        this.owner.logger?.warn("peer link unanswered; reconnecting", { to: this.id, waitedMs: waited });
        this.stats.pingTimeouts++;
        this.fail();
        return;
      }
      this.pingSentAt = Date.now();
      try {
        session.ping((err) => {
          if (this.session === session && !err) this.pingSentAt = undefined;
        });
      } catch {
        this.fail();
      }
    }, pingIntervalMs);
    this.pingTimer.unref();
  }

  private fail(): void {
    if (!this.stream && !this.session) return;
    this.teardown();
    if (this.closed) return;
    this.stats.reconnects++;
    this.owner.reportUnreachable(this.id);
    const jitter = Math.random() * this.backoffMs * 0.5;
    const wait = this.backoffMs + jitter;
    this.backoffMs = Math.min(maxBackoffMs, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.queue.length > 0 && this.ensureStream()) this.drain();
    }, wait);
    this.reconnectTimer.unref();
  }

  private teardown(): void {
    const stream = this.stream;
    const session = this.session;
    this.stream = undefined;
    this.session = undefined;
    this.stats.connected = false;
    // The peer may come back as another build (a rollback): it says again what it speaks.
    this.stats.controlProto = false;
    clearInterval(this.pingTimer);
    clearTimeout(this.connectTimer);
    this.pingTimer = undefined;
    this.connectTimer = undefined;
    this.pingSentAt = undefined;
    stream?.destroy();
    session?.destroy();
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.teardown();
  }
}

/** A batch frame above this is cut in two: far below the receiver's bound (framing.ts maxFrameBytes). */
export const maxBatchFrameBytes = 16 * 1024 * 1024;

/** Messages to one peer as frames of at most maxBatchFrameBytes each (a lone larger message alone), in order. */
export function batchFrames(from: string, messages: Message[]): Uint8Array[] {
  const bytes = canEncodeDirectly(messages)
    ? encodeFramedBatch(from, messages)
    : frame(encodeBatch(from, messages));
  if (bytes.byteLength <= maxBatchFrameBytes || messages.length === 1) return [bytes];
  const half = messages.length >> 1;
  return [...batchFrames(from, messages.slice(0, half)), ...batchFrames(from, messages.slice(half))];
}
