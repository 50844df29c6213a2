import type http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { forwardedForHeader } from "../engine/engine.js";
import { resourceExhausted } from "../engine/errors.js";
import {
  chainsTo,
  type ForwardingNodes,
  forwardedPrincipal,
  forwardingNodeProblem,
} from "./auth-interceptors.js";
import type { AuthThrottle } from "./auth-throttle.js";
import type { Authenticator, Principal } from "./authenticator.js";
import { verifiedPeerCertificate } from "./client-cert.js";
import { refuseAfterBody } from "./refusal.js";

// Authentication in front of connect: a call's credentials are checked from its headers and its
// connection before a byte of its body is read or decoded, so an unauthenticated client costs a
// header parse (and, bounded by the AuthThrottle, one scrypt), never a protobuf decode. The
// principal found travels to the interceptors through a WeakMap keyed by the request.

type Request = http2.Http2ServerRequest;
type Response = http2.Http2ServerResponse;

export interface AuthGateOptions {
  authenticator: Authenticator;
  throttle: AuthThrottle;
  forwardingNodes?: ForwardingNodes;
  /**
   * How to recognise a cluster node's connection (its verified certificate), whose internal headers
   * (`geobroker-forwarded-hops`) are believed.
   */
  nodes?: ForwardingNodes;
  /**
   * Without TLS (no `nodes`): whether a connection from this source address is a node's
   * (security/node-addresses.ts). Absent too: nobody's internal headers are believed.
   */
  nodeAddress?: (remoteAddress: string | undefined) => boolean;
  /**
   * Fingerprints of the client CA's certificates (`tls.client.ca`), when the client port also trusts
   * the peer CA: a certificate is a client's identity only if it chains to one of them. A peer-CA
   * certificate (which a node, or whoever can have the peer issuer sign, holds) may forward calls,
   * never be a caller itself, whatever its name. Absent: one CA for both, every verified certificate.
   */
  clientIssuers?: () => ReadonlySet<string>;
  /** Open streaming calls one principal may hold on this node (server, client and bidi streams). */
  maxStreamsPerPrincipal: number;
  /** Paths of streaming methods: counted against maxStreamsPerPrincipal while open. */
  streamingPaths: ReadonlySet<string>;
  /** A refusal, for the (rate-limited) audit log. */
  onFailure(method: string, address: string, err: ConnectError): void;
  onLimit(limit: "streams_per_principal" | "auth_lockout" | "auth_queue", address: string): void;
}

export interface AuthGate {
  /** Authenticates, then calls `next`, or answers the refusal itself. */
  handle(req: Request, res: Response, next: (req: Request, res: Response) => void): void;
  /** The principal the gate found for this request (undefined: the gate did not see it). */
  principalOf(req: object): Principal | undefined;
  /** Open streaming calls per principal name. */
  openStreams(name: string): number;
  /** Whether the request came over a cluster node's connection. */
  fromNode(req: object): boolean;
}

/** The request's headers as fetch Headers (what connect's interceptors see), pseudo-headers left out. */
export function requestHeaders(req: Pick<Request, "headers">): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    h.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return h;
}

const presented = (h: Headers) => h.has("authorization") || h.has(forwardedForHeader);

export function createAuthGate(o: AuthGateOptions): AuthGate {
  const principals = new WeakMap<object, Principal>();
  const fromNodes = new WeakSet<object>();
  const streams = new Map<string, number>();
  const methodOf = (req: Request) => (req.url.split("?")[0] ?? "").split("/").pop() ?? "";

  async function authenticate(req: Request, address: string): Promise<Principal> {
    const locked = o.throttle.lockout(address);
    if (locked) {
      o.onLimit("auth_lockout", address);
      throw locked;
    }
    const headers = requestHeaders(req);
    const peerCertificate = verifiedPeerCertificate(req);
    const clientCertificate =
      peerCertificate && (!o.clientIssuers || chainsTo(peerCertificate, o.clientIssuers()))
        ? peerCertificate
        : undefined;
    try {
      const principal = headers.has(forwardedForHeader)
        ? forwardedPrincipal(headers, peerCertificate, o.forwardingNodes)
        : await o.authenticator.authenticate(headers, {
            address,
            ...(clientCertificate ? { peerCertificate: clientCertificate } : {}),
          });
      o.throttle.succeeded(address);
      return principal;
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.ResourceExhausted) o.onLimit("auth_queue", address);
      // Only presented credentials count towards a lockout: a missing one cost nothing to refuse.
      else if (presented(headers) && o.throttle.failed(address)) o.onLimit("auth_lockout", address);
      throw e;
    }
  }

  return {
    principalOf: (req) => principals.get(req),
    fromNode: (req) =>
      o.nodes ? fromNodes.has(req) : (o.nodeAddress?.((req as Request).socket?.remoteAddress) ?? false),
    openStreams: (name) => streams.get(name) ?? 0,
    handle(req, res, next) {
      const address = req.socket?.remoteAddress ?? "unknown";
      authenticate(req, address).then(
        (principal) => {
          if (res.closed || res.writableEnded) return;
          if (o.streamingPaths.has(req.url.split("?")[0] ?? "")) {
            const open = streams.get(principal.name) ?? 0;
            if (open >= o.maxStreamsPerPrincipal) {
              o.onLimit("streams_per_principal", address);
              refuseAfterBody(
                req,
                res,
                resourceExhausted(
                  `user "${principal.name}" already holds ${open} open streams on this node (the limit); close some or reuse one`,
                ),
              );
              return;
            }
            streams.set(principal.name, open + 1);
            res.once("close", () => {
              const left = (streams.get(principal.name) ?? 1) - 1;
              if (left <= 0) streams.delete(principal.name);
              else streams.set(principal.name, left);
            });
          }
          principals.set(req, principal);
          if (o.nodes && !forwardingNodeProblem(verifiedPeerCertificate(req), o.nodes)) fromNodes.add(req);
          next(req, res);
        },
        (err: ConnectError) => {
          o.onFailure(methodOf(req), address, err);
          refuseAfterBody(req, res, err);
        },
      );
    },
  };
}
