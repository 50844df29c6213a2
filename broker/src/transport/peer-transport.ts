import http2 from "node:http2";
import type { PeerCertificate } from "node:tls";
import type { PeerTlsFiles } from "../config/config.js";
import type { Logger } from "../observability/logger.js";
import type { Message, NodeId } from "../raft/types.js";
import { MessageType } from "../raft/types.js";
import { TlsFiles as WatchedTlsFiles } from "../security/file-watch.js";
import { peerIdentityProblem } from "../security/peer-identity.js";
import { decodeBatch, encodeBatch } from "./convert.js";
import { FrameReader, frame } from "./framing.js";
import { http2Settings, widenWindow } from "./http2-windows.js";
import { installSnapshotPath, SnapshotAssembler, snapshotFrames } from "./snapshot-stream.js";

const streamPath = "/geobroker.raft.v1.PeerService/Stream";
/** Internal requests between nodes (metadata proposals, cluster views): trusted as peer traffic. */
const controlPath = "/geobroker.raft.v1.PeerService/Control";
const nodeIdHeader = "geobroker-node-id";
const peerAddressHeader = "geobroker-peer-address";
const minBackoffMs = 50;
const maxBackoffMs = 2000;
/**
 * A connection whose peer vanished without a FIN or RST (its pod's network was torn down, its
 * machine lost power, a partition) looks healthy to the sender until TCP gives up, minutes later.
 * An HTTP/2 PING every second that must be answered within a few seconds finds it; the link is then
 * dropped and redialled, which also re-resolves the peer's name (a rescheduled pod's new address).
 * Found on Kubernetes: a deleted broker pod's replacement waited 70 s for its peers to notice.
 */
export const pingIntervalMs = 1000;
export const pingTimeoutMs = 6000;
/** Per peer: beyond this many queued bytes the oldest batches are dropped (Raft retransmits). */
const maxQueuedBytes = 64 * 1024 * 1024;

export interface PeerTransportOptions {
  nodeId: NodeId;
  listen: { host: string; port: number };
  peers: Map<NodeId, string>;
  /** host:port other nodes reach this node's peer port at: sent with every stream, so a node that
   * does not know this one yet (it joined after us) can answer. */
  advertisedAddress?: string;
  /**
   * mTLS: both sides verify the other's chain against `ca` and, when `allowedIdentities` is set, that
   * the certificate names an allowed node identity (security/peer-identity.ts). Files are reloaded
   * when they change; new connections use the new certificate.
   */
  tls?: PeerTlsFiles;
  /** Simulated one-way delay for batches to a peer (WAN tests); 0 for none. */
  linkDelayMs?: (to: NodeId) => number;
  onUnreachable?: (id: NodeId) => void;
  /** How a snapshot transfer to a peer ended (the Raft leader must be told: reportSnapshot). */
  onSnapshotStatus?: (groupId: number, to: NodeId, ok: boolean) => void;
  logger?: Logger;
}

interface PeerStats {
  sentBatches: number;
  sentMessages: number;
  droppedBatches: number;
  reconnects: number;
  /** Links dropped because the peer stopped answering pings (a silently dead connection). */
  pingTimeouts: number;
  connected: boolean;
}

/** One outbound stream to one peer: batches queue while it (re)connects. */
class PeerLink {
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
  readonly stats: PeerStats = {
    sentBatches: 0,
    sentMessages: 0,
    droppedBatches: 0,
    reconnects: 0,
    pingTimeouts: 0,
    connected: false,
  };

  constructor(
    private readonly id: NodeId,
    private address: string,
    private readonly owner: PeerTransport,
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
    let bytes: Uint8Array;
    try {
      bytes = frame(encodeBatch(this.owner.nodeId, messages));
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
    if (delay > 0) setTimeout(() => this.write(bytes), delay);
    else this.write(bytes);
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

  /** One internal request on the peer connection; rejects after timeoutMs or when the peer fails. */
  call(body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!this.ensureStream() || !this.session)
      return Promise.reject(new Error(`peer ${this.id} not connected`));
    const stream = this.session.request({
      ":method": "POST",
      ":path": controlPath,
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    return new Promise((resolve, reject) => {
      const reader = new FrameReader();
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new Error(`peer ${this.id} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      let answer: Uint8Array | undefined;
      stream.on("data", (chunk: Buffer) => {
        for (const payload of reader.push(chunk)) answer = payload;
      });
      stream.on("trailers", (trailers) => {
        clearTimeout(timer);
        if (trailers["grpc-status"] === "0" && answer) resolve(answer);
        else
          reject(
            new Error(
              decodeURIComponent(String(trailers["grpc-message"] ?? `peer ${this.id} refused the request`)),
            ),
          );
      });
      stream.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on("close", () => {
        clearTimeout(timer);
        reject(new Error(`peer ${this.id} closed the request`));
      });
      stream.end(frame(body));
    });
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
              checkServerIdentity: this.owner.checkPeerIdentity,
              settings: http2Settings,
            }
          : { settings: http2Settings },
      );
      widenWindow(session);
      session.on("error", () => this.fail());
      session.on("close", () => this.fail());
      session.on("connect", () => {
        this.backoffMs = minBackoffMs;
        this.stats.connected = true;
        this.startPings(session);
      });
      const stream = session.request({
        ":method": "POST",
        ":path": streamPath,
        "content-type": "application/grpc+proto",
        te: "trailers",
        [nodeIdHeader]: this.owner.nodeId,
        ...(this.owner.advertisedAddress ? { [peerAddressHeader]: this.owner.advertisedAddress } : {}),
      });
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
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
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

/**
 * Raft messages between nodes on the peer port (proto/geobroker/raft/v1/raft.proto; its TLS in
 * docs/security.md, "Peer port"): one long-lived HTTP/2 stream per peer pair, gRPC-framed
 * `StreamRequest` batches, mTLS when configured. Sending never blocks and never throws: a dead
 * peer's queue is capped and Raft retransmits what is lost.
 */
export class PeerTransport {
  readonly nodeId: NodeId;
  readonly logger: Logger | undefined;
  private readonly links = new Map<NodeId, PeerLink>();
  private server: http2.Http2Server | http2.Http2SecureServer | undefined;
  private handler: (messages: Message[]) => void = () => {};
  private controlHandler: (request: Uint8Array) => Promise<Uint8Array> = async () => {
    throw new Error("not ready for internal requests");
  };
  private readonly tlsFiles: WatchedTlsFiles | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  receivedBatches = 0;

  constructor(private readonly o: PeerTransportOptions) {
    this.nodeId = o.nodeId;
    this.logger = o.logger;
    this.tlsFiles = o.tls
      ? new WatchedTlsFiles(o.tls, {
          onReload: (paths) => o.logger?.info("peer TLS files reloaded", { audit: true, paths }),
          onError: (err) =>
            o.logger?.warn("peer TLS files unusable; keeping the previous ones", { err: err.message }),
        })
      : undefined;
    for (const [id, address] of o.peers)
      if (id !== o.nodeId) this.links.set(id, new PeerLink(id, address, this));
  }

  /** The current certificate, key and CA (they change when the files are rotated). */
  get tlsMaterial(): { ca: Buffer; cert: Buffer; key: Buffer } | undefined {
    const m = this.tlsFiles?.current();
    return m ? { ca: m.ca!, cert: m.cert, key: m.key } : undefined;
  }

  /**
   * tls.connect's `checkServerIdentity`: the server must name an allowed node identity. It replaces
   * the host name check, as nodes are known by identity, not by the address dialled (proxies, NAT).
   */
  readonly checkPeerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    const allowed = this.o.tls?.allowedIdentities;
    const problem = allowed ? peerIdentityProblem(cert, allowed) : undefined;
    return problem ? new Error(problem) : undefined;
  };

  onMessages(handler: (messages: Message[]) => void): void {
    this.handler = handler;
  }

  onControl(handler: (request: Uint8Array) => Promise<Uint8Array>): void {
    this.controlHandler = handler;
  }

  get advertisedAddress(): string | undefined {
    return this.o.advertisedAddress;
  }

  /** An internal request to a peer (see controlPath). */
  call(to: NodeId, body: Uint8Array, timeoutMs = 5000): Promise<Uint8Array> {
    const link = this.links.get(to);
    if (!link) return Promise.reject(new Error(`no address known for node ${to}`));
    return link.call(body, timeoutMs);
  }

  knows(id: NodeId): boolean {
    return id === this.nodeId || this.links.has(id);
  }

  delayTo(id: NodeId): number {
    return this.o.linkDelayMs?.(id) ?? 0;
  }

  reportUnreachable(id: NodeId): void {
    this.o.onUnreachable?.(id);
  }

  snapshotStatus(groupId: number, to: NodeId, ok: boolean): void {
    this.o.onSnapshotStatus?.(groupId, to, ok);
  }

  async start(): Promise<number> {
    const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      if (headers[":path"] === installSnapshotPath) {
        this.receiveSnapshot(stream);
        return;
      }
      if (headers[":path"] === controlPath) {
        this.receiveControl(stream);
        return;
      }
      if (headers[":path"] !== streamPath) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "12" },
          { endStream: true },
        );
        return;
      }
      // A node that joined after this one started: learn where to answer it.
      const from = headers[nodeIdHeader];
      const address = headers[peerAddressHeader];
      if (typeof from === "string" && typeof address === "string" && !this.knows(from))
        this.setPeer(from, address);
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const reader = new FrameReader();
      stream.on("data", (chunk: Buffer) => {
        for (const payload of reader.push(chunk)) {
          try {
            const { messages } = decodeBatch(payload);
            this.receivedBatches++;
            this.handler(messages);
          } catch (err) {
            this.o.logger?.warn("dropping a malformed peer frame", { err: (err as Error).message });
          }
        }
      });
      stream.on("error", () => {});
      stream.on("end", () => stream.end());
    };
    const tls = this.tlsMaterial;
    const server = tls
      ? http2.createSecureServer({
          ...tls,
          requestCert: true,
          rejectUnauthorized: true,
          settings: http2Settings,
        })
      : http2.createServer({ settings: http2Settings });
    server.on("stream", onStream);
    if (tls) this.tlsFiles!.attach(server as http2.Http2SecureServer);
    server.on("session", (s) => {
      widenWindow(s);
      const allowed = this.o.tls?.allowedIdentities;
      const socket = s.socket as unknown as { getPeerCertificate?: () => PeerCertificate };
      const problem =
        allowed && socket.getPeerCertificate
          ? peerIdentityProblem(socket.getPeerCertificate(), allowed)
          : undefined;
      if (problem) {
        // The chain was verified by the TLS layer; the certificate just names no node of ours.
        this.o.logger?.warn("refusing a peer connection", { audit: true, reason: problem });
        s.destroy();
        return;
      }
      this.sessions.add(s);
      s.on("close", () => this.sessions.delete(s));
      s.on("error", () => {});
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.listen.port, this.o.listen.host, () => resolve());
    });
    const address = server.address();
    return typeof address === "object" && address ? address.port : this.o.listen.port;
  }

  private receiveControl(stream: http2.ServerHttp2Stream): void {
    const reader = new FrameReader();
    let request: Uint8Array | undefined;
    stream.on("data", (chunk: Buffer) => {
      try {
        for (const payload of reader.push(chunk)) request = payload;
      } catch {
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      }
    });
    stream.on("error", () => {});
    stream.on("end", () => {
      const reply = (status: string, body?: Uint8Array, message = "") => {
        if (stream.destroyed) return;
        stream.respond(
          { ":status": 200, "content-type": "application/grpc+proto" },
          { waitForTrailers: true },
        );
        stream.on("wantTrailers", () =>
          stream.sendTrailers({
            "grpc-status": status,
            ...(message ? { "grpc-message": encodeURIComponent(message) } : {}),
          }),
        );
        stream.end(body ? frame(body) : undefined);
      };
      if (!request) return reply("3", undefined, "empty internal request");
      this.controlHandler(request).then(
        (answer) => reply("0", answer),
        (err: Error) => reply("9", undefined, err.message),
      );
    });
  }

  private receiveSnapshot(stream: http2.ServerHttp2Stream): void {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    let status = "0";
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": status }));
    const reader = new FrameReader();
    const assembler = new SnapshotAssembler();
    stream.on("data", (chunk: Buffer) => {
      try {
        for (const payload of reader.push(chunk)) {
          const m = assembler.push(payload);
          if (m) this.handler([m]);
        }
      } catch (err) {
        status = "3";
        this.o.logger?.warn("refusing a snapshot stream", { err: (err as Error).message });
        stream.end();
      }
    });
    stream.on("error", () => {});
    stream.on("end", () => stream.end());
  }

  send(messages: Message[]): void {
    for (const m of messages) this.links.get(m.to)?.enqueue(m);
  }

  setPeer(id: NodeId, address: string): void {
    if (id === this.nodeId) return;
    const link = this.links.get(id);
    if (link) link.setAddress(address);
    else this.links.set(id, new PeerLink(id, address, this));
  }

  removePeer(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  connectedPeers(): NodeId[] {
    return [...this.links].filter(([, l]) => l.stats.connected).map(([id]) => id);
  }

  stats(): Map<NodeId, PeerStats> {
    return new Map([...this.links].map(([id, l]) => [id, { ...l.stats }]));
  }

  async stop(): Promise<void> {
    for (const l of this.links.values()) l.close();
    for (const s of this.sessions) s.destroy();
    this.tlsFiles?.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
