import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

export interface HealthSource {
  /** Process is up and its loops run. */
  live(): boolean;
  /** Ready to serve clients: storage open, member of the metadata group, a leader known. Reason when not. */
  ready(): { ready: boolean; reason: string };
}

/** Whether an HTTP caller may drain the node: 401 without credentials, 403 when not a cluster admin. */
export type DrainAuthorizer = (
  headers: Headers,
  address: string,
) => Promise<{ allowed: true } | { allowed: false; status: 401 | 403 | 429; message: string }>;

export interface HttpServerOptions {
  host: string;
  port: number;
  health: HealthSource;
  registry: Registry;
  /** Moves this node's leaderships away; answers when done. Absent: no /drain. */
  drain?: () => Promise<{ done: boolean; detail: string }>;
  /** Who may POST /drain on this port. Absent: nobody (use the loopback admin port). */
  authorizeDrain?: DrainAuthorizer;
  /** When it returns a token, /metrics needs `authorization: bearer <token>`. */
  metricsToken?: () => string | undefined;
  /** Called for each refusal (for the audit log). */
  onRefused?: (path: string, address: string, status: number) => void;
}

const text = (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}) =>
  res.writeHead(status, { "content-type": "text/plain", ...extra }).end(body);

const headersOf = (req: IncomingMessage) => {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) h.set(k, String(v));
  return h;
};

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^bearer (.+)$/i.exec(header ?? "")?.[1] ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * The HTTP port: /healthz, /readyz, /metrics (Prometheus text format) and /drain (moves this node's
 * leaderships to other nodes and answers when done). The port binds every interface in production,
 * so /drain needs a cluster admin's credentials here (POST only), and /metrics a token when one is
 * configured; the pod's preStop hook drains through the loopback-only admin port instead.
 */
export function startHttpServer(o: HttpServerOptions): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const address = req.socket.remoteAddress ?? "unknown";
    const refuse = (status: number, body: string, extra: Record<string, string> = {}) => {
      o.onRefused?.(path ?? "", address, status);
      text(res, status, body, extra);
    };
    try {
      if (path === "/healthz") {
        const ok = o.health.live();
        text(res, ok ? 200 : 503, ok ? "ok\n" : "not live\n");
      } else if (path === "/readyz") {
        const r = o.health.ready();
        text(res, r.ready ? 200 : 503, r.ready ? "ready\n" : `not ready: ${r.reason}\n`);
      } else if (path === "/metrics") {
        const token = o.metricsToken?.();
        if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
          refuse(401, "/metrics needs `authorization: bearer <metrics token>`\n", {
            "www-authenticate": "Bearer",
          });
          return;
        }
        const body = await o.registry.metrics();
        res.writeHead(200, { "content-type": o.registry.contentType }).end(body);
      } else if (path === "/drain" && o.drain) {
        if (req.method !== "POST") {
          refuse(405, "use POST /drain\n", { allow: "POST" });
          return;
        }
        const verdict = o.authorizeDrain
          ? await o.authorizeDrain(headersOf(req), address)
          : ({ allowed: false, status: 403, message: "drain through the loopback admin port" } as const);
        if (!verdict.allowed) {
          refuse(verdict.status, `${verdict.message}\n`);
          return;
        }
        const r = await o.drain();
        text(res, r.done ? 200 : 503, `${r.detail}\n`);
      } else {
        text(res, 404, "not found: try /healthz, /readyz, /metrics or POST /drain\n");
      }
    } catch (err) {
      text(res, 500, `error: ${(err as Error).message}\n`);
    }
  });
  return listen(server, o.port, o.host);
}

/**
 * The admin port: POST /drain without credentials, bound to loopback only, so only processes in
 * the node's own network namespace (the pod's preStop hook) reach it.
 */
export function startAdminServer(
  port: number,
  drain: () => Promise<{ done: boolean; detail: string }>,
): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/drain") return text(res, 404, "not found: POST /drain\n");
    if (req.method !== "POST") return text(res, 405, "use POST /drain\n", { allow: "POST" });
    try {
      const r = await drain();
      text(res, r.done ? 200 : 503, `${r.detail}\n`);
    } catch (err) {
      text(res, 500, `error: ${(err as Error).message}\n`);
    }
  });
  return listen(server, port, "127.0.0.1");
}

function listen(server: Server, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
