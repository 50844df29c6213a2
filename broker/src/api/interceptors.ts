import { ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Principal } from "../security/authenticator.js";

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
 * the client's own and is ignored (set by the auth gate; unset: trusted, as on a port without TLS).
 */
export const fromNodeKey = createContextKey<boolean | undefined>(undefined, { description: "from a node" });

/** The authenticated caller, set by security/auth-interceptors.ts `connectionAuthInterceptor`. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "caller" });

export interface CallObserver {
  /** Called once per call when its response (or the first error) is known. */
  observe(service: string, method: string, code: string, seconds: number): void;
}

/** Counts and times every call for /metrics. Streams are timed to their first response message. */
export function metricsInterceptor(observer: CallObserver): Interceptor {
  return (next) => async (req) => {
    const started = process.hrtime.bigint();
    const done = (code: string) =>
      observer.observe(
        req.service.typeName,
        req.method.name,
        code,
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    try {
      const res = await next(req);
      done("ok");
      return res;
    } catch (err) {
      done(err instanceof ConnectError ? codeName(err) : "internal");
      throw err;
    }
  };
}

function codeName(err: ConnectError): string {
  return String(err.code);
}
