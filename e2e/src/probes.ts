// Readiness probes against the real endpoints: each resolves when the component answers as healthy
// and throws (with what it saw) otherwise, for waitUntil to retry.
import { Resolver } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Pem } from "../../broker/test/security/tls-fixtures.js";

export interface Tls {
  ca?: string;
  cert?: string;
  key?: string;
  /** The controller-manager and scheduler serve self-signed certificates nobody can verify. */
  insecure?: boolean;
}

export function tlsFor(ca: Pem, client?: Pem): Tls {
  return { ca: ca.cert, ...(client ? { cert: client.cert, key: client.key } : {}) };
}

/** GETs `url` and returns the body of a 200 answer; anything else throws. */
export function get(url: string, tls: Tls = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { timeout: 3_000, ...tls, rejectUnauthorized: !tls.insecure };
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url}: ${res.statusCode} ${body.slice(0, 500)}`));
      });
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** The A records `server` (port 53) answers for `name`. */
export async function resolve4(server: string, name: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([server]);
  return resolver.resolve4(name);
}
