import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface HealthSource {
  /** Process is up and its loops run. */
  live(): boolean;
  /** Ready to serve clients: storage open, member of the metadata group, a leader known. Reason when not. */
  ready(): { ready: boolean; reason: string };
}

/**
 * The HTTP port: /healthz, /readyz, /metrics (Prometheus text format) and /drain (moves this node's
 * leaderships to other nodes and answers when done: a pod's preStop hook, so a rolling restart
 * never leaves a group leaderless for an election timeout).
 */
export function startHttpServer(
  host: string,
  port: number,
  health: HealthSource,
  registry: Registry,
  drain?: () => Promise<{ done: boolean; detail: string }>,
): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/healthz") {
        const ok = health.live();
        res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not live\n");
      } else if (path === "/readyz") {
        const r = health.ready();
        res
          .writeHead(r.ready ? 200 : 503, { "content-type": "text/plain" })
          .end(r.ready ? "ready\n" : `not ready: ${r.reason}\n`);
      } else if (path === "/metrics") {
        const body = await registry.metrics();
        res.writeHead(200, { "content-type": registry.contentType }).end(body);
      } else if (path === "/drain" && drain) {
        const r = await drain();
        res.writeHead(r.done ? 200 : 503, { "content-type": "text/plain" }).end(`${r.detail}\n`);
      } else {
        res
          .writeHead(404, { "content-type": "text/plain" })
          .end("not found: try /healthz, /readyz, /metrics or /drain\n");
      }
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`error: ${(err as Error).message}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
