import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { gzipSync } from "node:zlib";

// A deliberately rude gRPC client for the hostile-input suite: raw HTTP/2 frames, hand-made
// envelopes, any header. It reports exactly what the server answered (gRPC status, HTTP status),
// so tests can assert the code instead of "it failed somehow".

export interface RawAnswer {
  /** The grpc-status trailer (or header, trailers-only), undefined when none came. */
  grpcStatus: number | undefined;
  grpcMessage: string;
  httpStatus: number | undefined;
  /** RST_STREAM code when the stream was reset instead of answered. */
  rstCode: number | undefined;
  body: Buffer;
}

export interface RawCall {
  path: string;
  headers?: Record<string, string>;
  /** Whole request body (envelopes included), or a generator of chunks. */
  body?: Buffer;
  /** End the request after the body (default true); false keeps it open (streams). */
  end?: boolean;
  timeoutMs?: number;
  /** Abort after the response headers arrive (for server streams that never end). */
  untilHeaders?: boolean;
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, payload. */
export function envelope(payload: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/**
 * `bytes` of protobuf that is nothing but unknown varint fields (field 15, wire type 0, value 1):
 * valid protobuf any message accepts and, with unknown fields kept, stores.
 */
export function unknownFieldVarints(bytes: number): Buffer {
  const b = Buffer.alloc(bytes - (bytes % 2));
  for (let i = 0; i < b.length; i += 2) {
    b[i] = (15 << 3) | 0;
    b[i + 1] = 1;
  }
  return b;
}

/** The 32 MiB of unknown fields of the report, gzip-compressed to a few tens of KiB. */
export function gzipBomb(decompressedBytes = 32 * 1024 * 1024): Buffer {
  return gzipSync(unknownFieldVarints(decompressedBytes), { level: 9 });
}

export function connectRaw(
  url: string,
  options: http2.SecureClientSessionOptions = {},
): http2.ClientHttp2Session {
  const session = http2.connect(url, options);
  session.on("error", () => {});
  return session;
}

/** One call on `session`: the answer as the server gave it. */
export function rawCall(session: http2.ClientHttp2Session, c: RawCall): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const answer: RawAnswer = {
      grpcStatus: undefined,
      grpcMessage: "",
      httpStatus: undefined,
      rstCode: undefined,
      body: Buffer.alloc(0),
    };
    const chunks: Buffer[] = [];
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      answer.body = Buffer.concat(chunks);
      resolve(answer);
    };
    const stream = session.request({
      ":method": "POST",
      ":path": c.path,
      "content-type": "application/grpc",
      te: "trailers",
      ...c.headers,
    });
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      done();
    }, c.timeoutMs ?? 10_000);
    const status = (h: http2.IncomingHttpHeaders | http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) answer.grpcStatus = Number(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) answer.grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    stream.on("response", (h) => {
      answer.httpStatus = Number(h[":status"]);
      status(h);
      if (c.untilHeaders) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        done();
      }
    });
    stream.on("trailers", status);
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("error", () => {});
    stream.on("close", () => {
      if (answer.grpcStatus === undefined && stream.rstCode) answer.rstCode = stream.rstCode;
      done();
    });
    if (c.body) stream.write(c.body);
    if (c.end !== false) stream.end();
  });
}

/** Resident memory of a process, in bytes (Linux /proc). */
export function residentBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * Samples how late a tiny HTTP request to the node is answered, every `everyMs`, until stopped: the
 * node's event-loop delay as a client sees it.
 */
export function probeLatency(url: string, everyMs = 50): { stop(): Promise<number> } {
  let worst = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        await fetch(url, { signal: AbortSignal.timeout(20_000) });
      } catch {
        // a refused or timed-out probe still measured the wait
      }
      worst = Math.max(worst, performance.now() - started);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return worst;
    },
  };
}

/** `authorization: basic ...` for a user and password. */
export const basicHeader = (user: string, password: string) =>
  `basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
