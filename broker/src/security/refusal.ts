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
    res.writeHead(200, {
      "content-type": contentType.startsWith("application/grpc-web") ? contentType : "application/grpc",
      "grpc-status": String(err.code),
      "grpc-message": encodeURIComponent(err.rawMessage),
    });
  } else {
    const [name, status] = connectNames[err.code] ?? ["internal", 500];
    res.writeHead(status, { "content-type": "application/json" });
    res.write(JSON.stringify({ code: name, message: err.rawMessage }));
  }
  res.end();
}
