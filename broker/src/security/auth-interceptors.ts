import type { DetailedPeerCertificate, PeerCertificate } from "node:tls";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { forwardedForHeader } from "../engine/engine.js";
import { permissionDenied, unauthenticated } from "../engine/errors.js";
import type { Authenticator, Principal } from "./authenticator.js";
import type { Authorizer } from "./authorization.js";
import { peerCertificateKey } from "./client-cert.js";
import { mayKey, principalKey } from "./context-keys.js";
import { isAdminAction, requirementsFor } from "./method-permissions.js";
import { peerIdentityProblem } from "./peer-identity.js";
import { Grants, revocable } from "./revocation.js";

/**
 * Which connections may name the caller in `x-geobroker-forwarded-for`: those whose verified client
 * certificate is a cluster node's (a node forwarding the call of a certificate-authenticated client).
 */
export interface ForwardingNodes {
  /** Identity patterns the node certificate must name (peer-identity.ts, `tls.peer.allowedIdentities`). */
  allowedIdentities: readonly string[];
  /**
   * SHA-256 fingerprints (`AB:CD:...`) of the peer CA's certificates: the node certificate must also
   * chain to one of them, not just to any CA the client port trusts (a client CA's certificate that
   * happens to carry a node-like name is not a node). Undefined: no chain check beyond the TLS layer's.
   */
  issuers?: () => ReadonlySet<string>;
}

const maxForwardedNameLength = 1024;

/** Why this (verified) certificate may not forward calls, or undefined when it is a node's. */
export function forwardingNodeProblem(
  cert: PeerCertificate | undefined,
  nodes: ForwardingNodes | undefined,
): string | undefined {
  if (!nodes)
    return "this node accepts no forwarded identities (that needs tls.peer and auth mode certificate)";
  const problem = peerIdentityProblem(cert, nodes.allowedIdentities);
  if (problem || !nodes.issuers) return problem;
  return chainsTo(cert, nodes.issuers())
    ? undefined
    : "the certificate does not chain to the peer CA (tls.peer.ca)";
}

/** Whether a verified certificate (getPeerCertificate(true)) or one of its issuers has one of these fingerprints. */
export function chainsTo(cert: PeerCertificate | undefined, issuers: ReadonlySet<string>): boolean {
  let c = cert as DetailedPeerCertificate | undefined;
  for (let depth = 0; c && depth < 10; depth++) {
    if (c.fingerprint256 && issuers.has(c.fingerprint256)) return true;
    const next = c.issuerCertificate;
    if (!next || next === c || next.fingerprint256 === c.fingerprint256) break;
    c = next;
  }
  return false;
}

/**
 * The principal a node forwards a call for: the name in `x-geobroker-forwarded-for`, as if that
 * caller had presented its own certificate here (certificate principals get their roles from the ACL
 * by name). Refused, UNAUTHENTICATED, unless the connection's verified certificate is a node's.
 */
export function forwardedPrincipal(
  headers: Headers,
  cert: PeerCertificate | undefined,
  nodes: ForwardingNodes | undefined,
): Principal {
  const problem = forwardingNodeProblem(cert, nodes);
  if (problem) throw unauthenticated(`${forwardedForHeader} is only accepted from cluster nodes: ${problem}`);
  if (headers.has("authorization"))
    throw unauthenticated(`send either authorization or ${forwardedForHeader}, not both`);
  const name = (headers.get(forwardedForHeader) ?? "").trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (!name || name.length > maxForwardedNameLength || /[\u0000-\u001f\u007f]/.test(name))
    throw unauthenticated(`${forwardedForHeader}: not a valid principal name`);
  return { name, method: "certificate" };
}

/**
 * Authenticates every call before its handler runs, handing the authenticator the request headers
 * and the connection's verified client certificate (put in the context by `peerContextValues` from
 * client-cert.ts, passed as `connectNodeAdapter({ contextValues })`), so mTLS identities work next
 * to basic and bearer. The principal lands under api/interceptors.ts `principalKey`.
 *
 * A call a node forwards for a certificate-authenticated caller names that caller in
 * `x-geobroker-forwarded-for`; it is believed only when the connection's certificate is a cluster
 * node's (`forwardingNodes`), never from a plain client.
 */
export function connectionAuthInterceptor(
  authenticator: Authenticator,
  onFailure?: (method: string, err: ConnectError) => void,
  forwardingNodes?: ForwardingNodes,
): Interceptor {
  return (next) => async (req) => {
    // Already authenticated in front of connect (auth-gate.ts), before the body was read.
    if (req.contextValues.get(principalKey)) return next(req);
    try {
      const peerCertificate = req.contextValues.get(peerCertificateKey);
      const principal = req.header.has(forwardedForHeader)
        ? forwardedPrincipal(req.header, peerCertificate, forwardingNodes)
        : await authenticator.authenticate(req.header, peerCertificate ? { peerCertificate } : {});
      req.contextValues.set(principalKey, principal);
    } catch (err) {
      if (err instanceof ConnectError) onFailure?.(req.method.name, err);
      throw err;
    }
    return next(req);
  };
}

export interface AuthorizationHooks {
  /**
   * Re-checks open streams (revocation.ts): the caller must stay valid here (a removed basic user,
   * an expired token) and keep its grants. Absent: streams are checked once, at their start.
   */
  revocation?: { authenticator?: Authenticator; everyMs: number };
  /** A call (or one message of a client stream) was refused. */
  onDenied?(principal: Principal, method: string, reason: string): void;
  /** An admin call was allowed: for the audit log. */
  onAdmin?(principal: Principal, method: string, topic: string | undefined): void;
}

/**
 * Checks the caller's permissions (method-permissions.ts) after authentication: unary and
 * server-streaming calls before the handler runs, client streams on every message as it arrives.
 * Refusals are PERMISSION_DENIED; a stream refused mid-way ends with that code.
 */
export function authorizationInterceptor(
  authorizer: Authorizer,
  hooks: AuthorizationHooks = {},
): Interceptor {
  return (next) => async (req) => {
    const principal = req.contextValues.get(principalKey);
    if (!principal) throw permissionDenied("the call was not authenticated");
    const service = req.service.typeName;
    const method = req.method.name;
    req.contextValues.set(mayKey, (action, topic) => authorizer.authorize(principal, action, topic).allowed);
    const grants = new Grants();
    const check = (message: unknown) => {
      for (const r of requirementsFor(service, method, message)) {
        grants.add(r);
        const decisions = r.anyOf.map((action) =>
          authorizer.authorize(principal, action, r.topic, r.consumer),
        );
        if (!decisions.some((d) => d.allowed)) {
          const reason = decisions.map((d) => (d.allowed ? "" : d.reason)).join("; ");
          hooks.onDenied?.(principal, method, reason);
          throw permissionDenied(reason);
        }
        if (isAdminAction(r)) hooks.onAdmin?.(principal, method, r.topic);
      }
    };
    const watched = async (res: Awaited<ReturnType<typeof next>>) => {
      const r = hooks.revocation;
      if (!res.stream || !r) return res;
      const revoked = () => grants.problem(principal, r.authenticator, authorizer);
      return { ...res, message: revocable(res.message, revoked, r.everyMs) };
    };
    if (!req.stream) {
      check(req.message);
      return watched(await next(req));
    }
    const messages = req.message;
    async function* checked() {
      for await (const m of messages) {
        check(m);
        yield m;
      }
    }
    return watched(await next({ ...req, message: checked() }));
  };
}
