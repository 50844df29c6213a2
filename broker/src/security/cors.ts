import type http2 from "node:http2";
import { cors } from "@connectrpc/connect";

/** Browser origins the client port answers (docs/configuration.md `clientCors`). */
export interface CorsPolicy {
  /** Exact origins ("https://app.example.com"), or "*" for any. Empty: no CORS headers at all. */
  allowedOrigins: readonly string[];
}

/** Preflight answers may be cached by the browser this long (seconds). */
const preflightMaxAgeSeconds = 7200;

/**
 * CORS for browser clients (Connect and gRPC-Web over fetch) on another origin: the allow headers on
 * answers to an allowed origin, and preflight OPTIONS answered here, before authentication (a
 * preflight carries no credentials). Returns true when the request was a preflight and is answered.
 */
export function applyCors(
  policy: CorsPolicy | undefined,
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
): boolean {
  const origin = req.headers.origin;
  if (!policy || policy.allowedOrigins.length === 0 || typeof origin !== "string") return false;
  const any = policy.allowedOrigins.includes("*");
  if (!any && !policy.allowedOrigins.includes(origin)) return false;
  res.setHeader("access-control-allow-origin", any ? "*" : origin);
  if (!any) res.setHeader("vary", "origin");
  res.setHeader("access-control-expose-headers", cors.exposedHeaders.join(", "));
  if (req.method !== "OPTIONS") return false;
  res.writeHead(204, {
    "access-control-allow-methods": cors.allowedMethods.join(", "),
    "access-control-allow-headers": [...cors.allowedHeaders, "authorization"].join(", "),
    "access-control-max-age": String(preflightMaxAgeSeconds),
  });
  res.end();
  return true;
}

/** Problems with a `clientCors.allowedOrigins` value, for the configuration's validation. */
export function corsOriginProblems(origins: unknown): string[] {
  if (!Array.isArray(origins))
    return ['clientCors.allowedOrigins: a list of origins (https://host[:port]) or "*"'];
  return origins
    .filter((o) => typeof o !== "string" || (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)))
    .map(
      (o) =>
        `clientCors.allowedOrigins: ${JSON.stringify(o)} is not an origin (scheme://host[:port], no path) or "*"`,
    );
}
