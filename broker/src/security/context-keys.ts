import { createContextKey } from "@connectrpc/connect";
import type { Principal } from "./authenticator.js";

// What the security interceptors learn about a call, for the API layer to read (api/call-context.ts).

/**
 * What the caller may do beyond what its method needs (a publish that would create its topic),
 * set by security/auth-interceptors.ts `authorizationInterceptor`.
 */
export const mayKey = createContextKey<((action: "create", topic: string) => boolean) | undefined>(
  undefined,
  {
    description: "caller's permissions",
  },
);

/**
 * False when the call did not come from a cluster node, so its `geobroker-forwarded-hops` header is
 * the client's own and is ignored (set by the auth gate from the connection's node certificate, or
 * without TLS from its source address; unset, as in memory: trusted).
 */
export const fromNodeKey = createContextKey<boolean | undefined>(undefined, { description: "from a node" });

/** The authenticated caller, set by security/auth-interceptors.ts `connectionAuthInterceptor`. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "caller" });
