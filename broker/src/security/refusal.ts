import type http2 from "node:http2";
import { Code, type ConnectError } from "@connectrpc/connect";

// Refusals made in front of connect (connection limits, authentication before the body is read):
// the answer a gRPC, gRPC-Web or Connect client expects, so each sees the code, never a bare reset.

const connectNames: Partial<Record<Code, [string, number]>> = {
  [Code.ResourceExhausted]: ["resource_exhausted", 429],
  [Code.Unauthenticated]: ["unauthenticated", 401],
  [Code.PermissionDenied]: ["permission_denied", 403],
  [Code.DeadlineExceeded]: ["deadline_exceeded", 504],
  [Code.InvalidArgument]: ["invalid_argument", 400],
};

type Request = Pick<http2.Http2ServerRequest, "headers">;
type Response = Pick<http2.Http2ServerResponse, "writeHead" | "write" | "end" | "headersSent">;

/** A trailers-only gRPC error, or a Connect-protocol JSON error for other content types. */
export function respondError(req: Request, res: Response, err: ConnectError): void {
  if (res.headersSent) return;
  const contentType = String(req.headers["content-type"] ?? "");
  if (contentType.startsWith("application/grpc")) {
    const headers = {
      "content-type": contentType.startsWith("application/grpc-web") ? contentType : "application/grpc",
      "grpc-status": String(err.code),
      "grpc-message": encodeURIComponent(err.rawMessage),
    };
    // Trailers-only: one HEADERS frame that ends the stream. writeHead + end would send HEADERS, then
    // an empty DATA frame ending it, which grpc-js reads as "ended without gRPC status" (INTERNAL).
    const stream = (res as Partial<http2.Http2ServerResponse>).stream;
    if (stream && !stream.headersSent && !stream.destroyed) {
      stream.respond({ ":status": 200, ...headers }, { endStream: true });
      return;
    }
    res.writeHead(200, headers);
  } else {
    const [name, status] = connectNames[err.code] ?? ["internal", 500];
    res.writeHead(status, { "content-type": "application/json" });
    res.write(JSON.stringify({ code: name, message: err.rawMessage }));
  }
  res.end();
}

/**
 * The refusal, sent once the request body has arrived (read and dropped, never decoded), or at once
 * after `maxBytes` or `maxWaitMs`. Answering a stream whose body is still coming makes Node reset it
 * (RST_STREAM NO_ERROR) right behind the answer, and some gRPC clients (grpc-js) then report
 * INTERNAL instead of the status: a wrong password must read as UNAUTHENTICATED.
 */
export function refuseAfterBody(
  req: Pick<
    http2.Http2ServerRequest,
    "headers" | "readableEnded" | "on" | "once" | "resume" | "removeListener"
  >,
  res: Response,
  err: ConnectError,
  maxBytes = 1024 * 1024,
  maxWaitMs = 1000,
): void {
  if (req.readableEnded) {
    respondError(req, res, err);
    return;
  }
  let seen = 0;
  let done = false;
  const answer = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    req.removeListener("data", count);
    respondError(req, res, err);
  };
  const count = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > maxBytes) answer();
  };
  const timer = setTimeout(answer, maxWaitMs);
  timer.unref();
  req.on("data", count);
  req.once("end", answer);
  req.once("close", answer);
  req.resume();
}
