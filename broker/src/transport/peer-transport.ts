import http2 from "node:http2";
import type { PeerCertificate } from "node:tls";
import type { PeerTlsFiles } from "../config/config.js";
import type { Logger } from "../observability/logger.js";
import type { Message, NodeId } from "../raft/types.js";
import { TlsFiles as WatchedTlsFiles } from "../security/file-watch.js";
import { serverBindingProblem } from "../security/peer-binding.js";
import { peerIdentityProblem } from "../security/peer-identity.js";
import type { ControlCodec } from "./control-codec.js";
import { decodeBatch } from "./convert.js";
import { type BufferBudget, FrameReader, frame, maxFrameBytes } from "./framing.js";
import { http2Settings, widenWindow } from "./http2-windows.js";
import {
  controlFormatHeader,
  controlPath,
  nodeIdHeader,
  PeerLink,
  type PeerStats,
  peerAddressHeader,
  streamPath,
} from "./peer-link.js";
import { PeerSenders } from "./peer-senders.js";
import { installSnapshotPath, SnapshotAssembler } from "./snapshot-stream.js";

/**
 * The peer server's HTTP/2 settings: its flow-control windows, and a bound on concurrent streams
 * (a peer holds one Raft stream, a snapshot stream at a time and its Control calls; an unbounded
 * count let one connection open streams without end).
 */
const peerServerSettings: http2.Settings = { ...http2Settings, maxConcurrentStreams: 256 };

/** What one peer connection's streams may buffer together (a few Raft batches in flight, a snapshot chunk). */
const peerSessionBufferBytes = 128 * 1024 * 1024;
/** A Control request or a snapshot chunk is small: 1 MiB chunks, requests of a few KiB. */
const smallFrameBytes = 4 * 1024 * 1024;
const budgets = new WeakMap<http2.Http2Session, BufferBudget>();

/** A reader for a stream of the peer port, within its connection's budget, released when the stream closes. */
function streamReader(stream: http2.ServerHttp2Stream, limit: number): FrameReader {
  let budget = budgets.get(stream.session!);
  if (!budget) {
    budget = { used: 0, limit: peerSessionBufferBytes };
    budgets.set(stream.session!, budget);
  }
  const reader = new FrameReader(limit, budget);
  stream.on("close", () => reader.release());
  return reader;
}

export interface PeerTransportOptions {
  nodeId: NodeId;
  control: ControlCodec;
  listen: { host: string; port: number };
  peers: Map<NodeId, string>;
  /** host:port other nodes reach this node's peer port at: sent with every stream, so a node that
   * does not know this one yet (it joined after us) can answer. */
  advertisedAddress?: string;
  /**
   * mTLS: both sides verify the other's chain against `ca` and, when `allowedIdentities` is set, that
   * the certificate names an allowed node identity (security/peer-identity.ts) and which node it is
   * (security/peer-binding.ts): a connection is bound to its certificate's node, unless the
   * certificate is one of `sharedIdentities`. Files are reloaded when they change; new connections
   * use the new certificate.
   */
  tls?: PeerTlsFiles;
  /** Simulated one-way delay for batches to a peer (WAN tests); 0 for none. */
  linkDelayMs?: (to: NodeId) => number;
  onUnreachable?: (id: NodeId) => void;
  /** How a snapshot transfer to a peer ended (the Raft leader must be told: reportSnapshot). */
  onSnapshotStatus?: (groupId: number, to: NodeId, ok: boolean) => void;
  logger?: Logger;
}

/**
 * Raft messages between nodes on the peer port (proto/geobroker/raft/v1/raft.proto; its TLS in
 * docs/security.md, "Peer port"): one long-lived HTTP/2 stream per peer pair, gRPC-framed
 * `StreamRequest` batches, mTLS when configured. Sending never blocks and never throws: a dead
 * peer's queue is capped and Raft retransmits what is lost.
 */
export class PeerTransport {
  readonly nodeId: NodeId;
  readonly control: ControlCodec;
  readonly logger: Logger | undefined;
  private readonly links = new Map<NodeId, PeerLink>();
  private server: http2.Http2Server | http2.Http2SecureServer | undefined;
  private handler: (messages: Message[]) => void = () => {};
  private controlHandler: (request: Uint8Array) => Promise<Uint8Array> = async () => {
    throw new Error("not ready for internal requests");
  };
  private readonly tlsFiles: WatchedTlsFiles | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Binds each connection to its certificate's node and refuses what claims another sender. */
  readonly senders: PeerSenders;
  receivedBatches = 0;

  constructor(private readonly o: PeerTransportOptions) {
    this.nodeId = o.nodeId;
    this.control = o.control;
    this.logger = o.logger;
    this.senders = new PeerSenders(o.tls, o.logger);
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
   * tls.connect's `checkServerIdentity` for a link to node `expected`: the server must name an
   * allowed node identity, and be that node (or hold the shared certificate). It replaces the host
   * name check, as nodes are known by identity, not by the address dialled (proxies, NAT).
   */
  checkPeerIdentity(expected: NodeId, cert: PeerCertificate): Error | undefined {
    const allowed = this.o.tls?.allowedIdentities;
    if (!allowed) return undefined;
    const problem =
      peerIdentityProblem(cert, allowed) ??
      serverBindingProblem(cert, expected, this.o.tls?.sharedIdentities ?? []);
    return problem ? new Error(problem) : undefined;
  }

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
        this.receiveControl(stream, headers[nodeIdHeader]);
        return;
      }
      if (headers[":path"] !== streamPath) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "12" },
          { endStream: true },
        );
        return;
      }
      // A node that joined after this one started: learn where to answer it. A connection bound to
      // another node may neither speak for this one nor redirect its replies.
      const from = headers[nodeIdHeader];
      const refused =
        typeof from === "string" ? this.senders.refusal(stream, from, "raft stream") : undefined;
      if (refused) {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "7",
            "grpc-message": encodeURIComponent(refused),
          },
          { endStream: true },
        );
        // Reset the client's half too: left open, the dialler kept writing into a stream nobody
        // reads (and, with a Control call pending on the session, node spun in nghttp2).
        stream.on("error", () => {});
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      const address = headers[peerAddressHeader];
      if (typeof from === "string" && typeof address === "string" && !this.knows(from))
        this.setPeer(from, address);
      stream.respond(
        { ":status": 200, "content-type": "application/grpc+proto", [controlFormatHeader]: "proto" },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const reader = streamReader(stream, maxFrameBytes);
      stream.on("data", (chunk: Buffer) => {
        let payloads: Uint8Array[];
        try {
          payloads = reader.push(chunk);
        } catch (err) {
          this.o.logger?.warn("ending a peer stream: bad framing", { err: (err as Error).message });
          stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
          return;
        }
        for (const payload of payloads) {
          try {
            const messages = this.senders.keepOwn(stream, decodeBatch(payload).messages);
            this.receivedBatches++;
            if (messages.length > 0) this.handler(messages);
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
          settings: peerServerSettings,
        })
      : http2.createServer({ settings: peerServerSettings });
    server.on("stream", onStream);
    if (tls) this.tlsFiles!.attach(server as http2.Http2SecureServer);
    server.on("session", (s) => {
      widenWindow(s);
      const problem = this.senders.admit(s);
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

  private receiveControl(stream: http2.ServerHttp2Stream, claimed: string | string[] | undefined): void {
    const reader = streamReader(stream, smallFrameBytes);
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
          { ":status": 200, "content-type": "application/grpc+proto", [controlFormatHeader]: "proto" },
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
      // Older builds name no sender: the connection's certificate is then who asks.
      const refused =
        typeof claimed === "string" ? this.senders.refusal(stream, claimed, "control request") : undefined;
      if (refused) return reply("7", undefined, refused);
      // An older build sends JSON and reads JSON back, a failure as grpc-status 9 and its text.
      const legacy = this.o.control.isLegacy(request);
      let input: Uint8Array;
      try {
        input = legacy ? this.o.control.fromLegacy(request) : request;
      } catch (err) {
        return reply("3", undefined, `malformed internal request: ${(err as Error).message}`);
      }
      this.controlHandler(input).then(
        (answer) => {
          try {
            reply("0", legacy ? this.o.control.toLegacy(answer) : answer);
          } catch (err) {
            reply("9", undefined, (err as Error).message);
          }
        },
        (err: Error) =>
          legacy
            ? reply("9", undefined, this.o.control.legacyFailureText(err))
            : reply("0", this.o.control.encodeError(err)),
      );
    });
  }

  private receiveSnapshot(stream: http2.ServerHttp2Stream): void {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    let status = "0";
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": status }));
    const reader = streamReader(stream, smallFrameBytes);
    const assembler = new SnapshotAssembler();
    stream.on("data", (chunk: Buffer) => {
      try {
        for (const payload of reader.push(chunk)) {
          const m = assembler.push(payload);
          if (m && this.senders.keepOwn(stream, [m]).length > 0) this.handler([m]);
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
