import { readFileSync, statSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DrainAuthorizer } from "../observability/http-server.js";
import type { Authenticator } from "./authenticator.js";
import type { Authorizer } from "./authorization.js";

// Credentials on the HTTP port, which binds every interface: POST /drain moves a node's leaderships
// away, so it needs what ClusterService.DrainNode needs (cluster administration), checked by the
// same authenticator (and its throttle) and the same ACL as the client port.

export function drainAuthorizer(authenticator: Authenticator, authorizer: Authorizer): DrainAuthorizer {
  return async (headers, address) => {
    if (!headers.has("authorization"))
      return {
        allowed: false,
        status: 401,
        message:
          "POST /drain needs a cluster admin's credentials (authorization: basic or bearer); a pod drains itself through the loopback admin port",
      };
    try {
      const principal = await authenticator.authenticate(headers, { address });
      const decision = authorizer.authorize(principal, "admin");
      return decision.allowed ? { allowed: true } : { allowed: false, status: 403, message: decision.reason };
    } catch (err) {
      const e = ConnectError.from(err);
      return { allowed: false, status: e.code === Code.ResourceExhausted ? 429 : 401, message: e.rawMessage };
    }
  };
}

/** The metrics token from its file, re-read when the file changes (a rotated Secret). */
export function metricsTokenFrom(path: string): () => string | undefined {
  let seen: { mtimeMs: number; size: number; token: string } | undefined;
  return () => {
    try {
      const st = statSync(path);
      if (!seen || seen.mtimeMs !== st.mtimeMs || seen.size !== st.size)
        seen = { mtimeMs: st.mtimeMs, size: st.size, token: readFileSync(path, "utf8").trim() };
    } catch {
      // Unreadable now (mid-rotation): keep the last token; with none yet, refuse everyone.
      if (!seen) return "\0unreadable metrics token file";
    }
    return seen.token || "\0empty metrics token file";
  };
}
