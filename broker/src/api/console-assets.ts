import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { failedPrecondition } from "../engine/errors.js";

// The web console's static files (docs/console.md), served on the client port under /console/. The
// page is public (it holds no data); everything it shows comes from calls it makes to this same port
// with the user's credentials, so the ACL decides what it may see and do. Same origin: no CORS, and
// the page works behind a region-local Service because every URL it uses is relative.

/** Where the console lives on the client port. */
export const consolePathPrefix = "/console";

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
};

/**
 * The page may load and call only its own origin, and may not be framed (clickjacking of the
 * delete buttons); no inline script or style (the plots set styles through the DOM, which CSP allows).
 */
const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export type ConsoleAnswer =
  | { kind: "file"; relPath: string }
  | { kind: "redirect"; location: string }
  | { kind: "not-found" }
  | { kind: "method-not-allowed" };

/**
 * What a request path under /console asks for, as a path relative to the assets folder. Pure: the
 * files that exist are given, so nothing outside that set (no `..`, no encoded slash) can be named.
 * Paths that are not files (the views' own routes) get index.html: the page routes itself.
 */
export function resolveConsoleRequest(
  method: string,
  url: string,
  files: ReadonlySet<string>,
): ConsoleAnswer | undefined {
  const path = url.split("?")[0]!.split("#")[0]!;
  if (path !== consolePathPrefix && !path.startsWith(`${consolePathPrefix}/`)) return undefined;
  if (method !== "GET" && method !== "HEAD") return { kind: "method-not-allowed" };
  // Relative asset URLs in the page need the trailing slash.
  if (path === consolePathPrefix) return { kind: "redirect", location: `${consolePathPrefix}/` };
  let rel: string;
  try {
    rel = decodeURIComponent(path.slice(consolePathPrefix.length + 1));
  } catch {
    return { kind: "not-found" };
  }
  if (rel === "" || !extname(rel)) return { kind: "file", relPath: "index.html" };
  return files.has(rel) ? { kind: "file", relPath: rel } : { kind: "not-found" };
}

function listFiles(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.add(relative(dir, p).split(sep).join("/"));
    }
  };
  walk(dir);
  return out;
}

/** What the handler uses of a request and a response: node:http's and node:http2's both fit. */
export interface AssetRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
}
export interface AssetResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(): unknown;
  end(body: Buffer | string): unknown;
}

export type ConsoleHandler = (req: AssetRequest, res: AssetResponse) => boolean;

/**
 * The handler for /console on the client port; returns false for every other path. The folder is
 * read once at start (the build's output does not change under a running node).
 */
export function consoleAssets(dir: string): ConsoleHandler {
  if (!existsSync(join(dir, "index.html")))
    throw failedPrecondition(
      `console.enabled is true but ${dir} holds no index.html: run \`npm run build\` (it builds the console), or set console.assetsDir`,
    );
  const files = listFiles(dir);
  const cache = new Map<string, Buffer>();
  return (req, res) => {
    const answer = resolveConsoleRequest(req.method ?? "GET", req.url ?? "/", files);
    if (!answer) return false;
    if (answer.kind === "redirect") {
      res.writeHead(308, { location: answer.location, ...securityHeaders });
      res.end();
    } else if (answer.kind === "method-not-allowed") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain", ...securityHeaders });
      res.end("the console serves GET and HEAD only\n");
    } else if (answer.kind === "not-found") {
      res.writeHead(404, { "content-type": "text/plain", ...securityHeaders });
      res.end("not a console file\n");
    } else {
      let body = cache.get(answer.relPath);
      if (!body) {
        body = readFileSync(join(dir, answer.relPath));
        cache.set(answer.relPath, body);
      }
      // Built asset names carry a content hash: cache them; index.html must be fresh after an upgrade.
      const immutable = answer.relPath.startsWith("assets/");
      res.writeHead(200, {
        "content-type": contentTypes[extname(answer.relPath)] ?? "application/octet-stream",
        "content-length": String(body.length),
        "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
        ...securityHeaders,
      });
      if (req.method === "HEAD") res.end();
      else res.end(body);
    }
    return true;
  };
}
