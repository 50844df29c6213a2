import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

// /metrics for Prometheus, /healthz for liveness (the process answers), /readyz for readiness
// (caches synced, or a standby replica waiting for the lease, which is healthy too).

export function startHttpServer(
  port: number,
  registry: Registry,
  ready: () => boolean,
  host = "0.0.0.0",
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not ready\n");
    } else if (path === "/metrics") {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500).end(`${err.message}\n`));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("try /metrics, /healthz or /readyz\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
