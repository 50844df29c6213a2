import type http2 from "node:http2";
import { constants as h2 } from "node:http2";
import type { Socket } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { refuseAfterBody } from "./refusal.js";

// Limits against hostile or broken clients on the HTTP/2 client port: too many sessions from one
// address, connections that open and never ask anything, request bodies trickled in slowly.
// Message size limits are enforced by connect-node (`readMaxBytes`) and api/validate.ts.

/** Requests under this path are health checks: unauthenticated, and never what keeps a connection busy. */
export const healthPathPrefix = "/grpc.health.v1.Health/";

export interface Http2GuardOptions {
  /** Concurrent HTTP/2 sessions one remote address may hold. Default 64. */
  maxSessionsPerAddress?: number;
  /** Concurrent HTTP/2 sessions in total. Default 10,000. */
  maxSessions?: number;
  /** A session with no open stream for this long is closed (GOAWAY). Default 300,000 ms. */
  idleSessionMs?: number;
  /** A unary or server-streaming request must have sent its whole body within this. Default 30,000 ms. */
  requestBodyMs?: number;
  /** Paths (`/pkg.Service/Method`) of client- and bidi-streaming methods: exempt from requestBodyMs. */
  clientStreamingPaths?: Iterable<string>;
  /** Called once per refusal or timeout, e.g. to write an audit line. */
  onLimit?: (
    limit: "sessions_per_address" | "sessions" | "idle_session" | "request_body",
    address: string,
  ) => void;
}

export type Admission =
  | { admitted: true }
  | { admitted: false; limit: "sessions_per_address" | "sessions"; reason: string };

/** Counts sessions per address; pure bookkeeping, so the decisions are testable without sockets. */
export class SessionCounter {
  private readonly perAddress = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxPerAddress: number,
    private readonly maxTotal: number,
  ) {}

  admit(address: string): Admission {
    const mine = this.perAddress.get(address) ?? 0;
    if (mine >= this.maxPerAddress) {
      return {
        admitted: false,
        limit: "sessions_per_address",
        reason: `too many connections from ${address}: the limit is ${this.maxPerAddress}; reuse one connection for many calls`,
      };
    }
    if (this.total >= this.maxTotal)
      return {
        admitted: false,
        limit: "sessions",
        reason: `the server holds its limit of ${this.maxTotal} connections`,
      };
    this.perAddress.set(address, mine + 1);
    this.total++;
    return { admitted: true };
  }

  release(address: string): void {
    const mine = this.perAddress.get(address) ?? 0;
    if (mine <= 1) this.perAddress.delete(address);
    else this.perAddress.set(address, mine - 1);
    if (mine > 0) this.total--;
  }

  count(address?: string): number {
    return address === undefined ? this.total : (this.perAddress.get(address) ?? 0);
  }
}

/** Request paths of every streaming method (server, client, bidi) of these services. */
export function streamingPaths(services: DescService[]): string[] {
  return services.flatMap((s) =>
    s.methods.filter((m) => m.methodKind !== "unary").map((m) => `/${s.typeName}/${m.name}`),
  );
}

/** Request paths of the client- and bidi-streaming methods of these services. */
export function clientStreamingPaths(services: DescService[]): string[] {
  return services.flatMap((s) =>
    s.methods
      .filter((m) => m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming")
      .map((m) => `/${s.typeName}/${m.name}`),
  );
}

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

export interface Http2Guard {
  /** Wraps the request handler: calls on a refused session are answered RESOURCE_EXHAUSTED. */
  wrap(handler: Handler): Handler;
  readonly sessions: SessionCounter;
}

/**
 * Attaches the limits to an HTTP/2 server (cleartext or TLS). Connections are counted when the TCP
 * connection is accepted, so TLS handshakes in progress, connections that never send the HTTP/2
 * preface and HTTP/1.1 connections (allowHTTP1) count alike. A connection over the limits is not cut
 * off blindly: each call on it gets RESOURCE_EXHAUSTED (so clients see why), then it is closed.
 * Health checks (`/grpc.health.v1.Health/*`, unauthenticated) do not keep a connection from being
 * idle: a Watch cannot hold a connection slot forever.
 */
export function guardHttp2Server(
  server: http2.Http2Server | http2.Http2SecureServer,
  o: Http2GuardOptions = {},
): Http2Guard {
  const sessions = new SessionCounter(o.maxSessionsPerAddress ?? 64, o.maxSessions ?? 10_000);
  // Refused TCP connections by `address:port`: the TLS socket a session or request sees is another
  // object than the TCP socket accepted, but has the same remote address and port.
  const refused = new Map<string, string>();
  const idleMs = o.idleSessionMs ?? 300_000;
  const bodyMs = o.requestBodyMs ?? 30_000;
  const streamingPaths = new Set(o.clientStreamingPaths ?? []);
  const keyOf = (
    socket: { remoteAddress?: string | undefined; remotePort?: number | undefined } | undefined,
  ) => `${socket?.remoteAddress ?? "unknown"}:${socket?.remotePort ?? 0}`;

  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const key = keyOf(socket);
    const admission = sessions.admit(address);
    if (!admission.admitted) {
      refused.set(key, admission.reason);
      o.onLimit?.(admission.limit, address);
      socket.once("close", () => refused.delete(key));
      // Give the client a moment to read its answers, then make sure the connection is gone.
      setTimeout(() => socket.destroy(), 5_000).unref();
      return;
    }
    socket.once("close", () => sessions.release(address));
  });

  server.on("session", (session: http2.ServerHttp2Session) => {
    const address = session.socket?.remoteAddress ?? "unknown";
    if (refused.has(keyOf(session.socket))) return;
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      idle = setTimeout(() => {
        o.onLimit?.("idle_session", address);
        session.close();
        // Streams that keep the closing session open (a health Watch) end with it.
        setTimeout(() => session.destroy(), 5_000).unref();
      }, idleMs);
      idle.unref();
    };
    armIdle();
    session.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      if (String(headers[":path"] ?? "").startsWith(healthPathPrefix)) return;
      open++;
      clearTimeout(idle);
      stream.once("close", () => {
        open--;
        if (open === 0 && !session.closed && !session.destroyed) armIdle();
      });
    });
    session.once("close", () => clearTimeout(idle));
  });

  return {
    sessions,
    wrap: (handler) => (req, res) => {
      const reason = refused.get(keyOf(req.socket));
      if (reason !== undefined) {
        const session = req.stream?.session;
        res.once("finish", () => (session ? session.close() : req.socket?.destroy()));
        refuseAfterBody(req, res, new ConnectError(reason, Code.ResourceExhausted));
        return;
      }
      if (!streamingPaths.has(req.url.split("?")[0]!) && !req.readableEnded) {
        const timer = setTimeout(() => {
          o.onLimit?.("request_body", req.socket?.remoteAddress ?? "unknown");
          const message = `the request body did not arrive within ${bodyMs} ms`;
          // Fail the body the handler is reading: connect answers with this error's code itself, so
          // there is exactly one response. Nobody reading (no listener) means nobody to answer:
          // reset the stream rather than emit an error that nothing catches.
          if (!res.headersSent && req.listenerCount("error") > 0)
            req.emit("error", new ConnectError(message, Code.DeadlineExceeded));
          else req.stream?.close(h2.NGHTTP2_CANCEL);
        }, bodyMs);
        timer.unref();
        req.once("end", () => clearTimeout(timer));
        req.once("close", () => clearTimeout(timer));
      }
      handler(req, res);
    },
  };
}
