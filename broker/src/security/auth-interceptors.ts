import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { permissionDenied } from "../api/errors.js";
import { principalKey } from "../api/interceptors.js";
import type { Authenticator, Principal } from "./authenticator.js";
import type { Authorizer } from "./authorization.js";
import { peerCertificateKey } from "./client-cert.js";
import { isAdminAction, requirementsFor } from "./method-permissions.js";

/**
 * Authenticates every call before its handler runs, handing the authenticator the request headers
 * and the connection's verified client certificate (put in the context by `peerContextValues` from
 * client-cert.ts, passed as `connectNodeAdapter({ contextValues })`), so mTLS identities work next
 * to basic and bearer. The principal lands under api/interceptors.ts `principalKey`.
 */
export function connectionAuthInterceptor(
  authenticator: Authenticator,
  onFailure?: (method: string, err: ConnectError) => void,
): Interceptor {
  return (next) => async (req) => {
    try {
      const peerCertificate = req.contextValues.get(peerCertificateKey);
      const principal = await authenticator.authenticate(
        req.header,
        peerCertificate ? { peerCertificate } : {},
      );
      req.contextValues.set(principalKey, principal);
    } catch (err) {
      if (err instanceof ConnectError) onFailure?.(req.method.name, err);
      throw err;
    }
    return next(req);
  };
}

export interface AuthorizationHooks {
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
    const check = (message: unknown) => {
      for (const r of requirementsFor(service, method, message)) {
        const decisions = r.anyOf.map((action) => authorizer.authorize(principal, action, r.topic));
        if (!decisions.some((d) => d.allowed)) {
          const reason = decisions.map((d) => (d.allowed ? "" : d.reason)).join("; ");
          hooks.onDenied?.(principal, method, reason);
          throw permissionDenied(reason);
        }
        if (isAdminAction(r)) hooks.onAdmin?.(principal, method, r.topic);
      }
    };
    if (!req.stream) {
      check(req.message);
      return next(req);
    }
    const messages = req.message;
    async function* checked() {
      for await (const m of messages) {
        check(m);
        yield m;
      }
    }
    return next({ ...req, message: checked() });
  };
}
