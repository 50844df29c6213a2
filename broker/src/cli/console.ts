import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../util/project-root.js";
import { type Command, parseFlags } from "./command.js";
import { connectionFrom, connectionOptions, connectionUsage } from "./connection-flags.js";
import { startConsoleServer } from "./console-server.js";
import { resolveTarget } from "./target.js";

const usage = `geobroker console [--server host:port] [--ca file] [--listen 127.0.0.1:8090]

Serves the web console (docs/console.md) on this machine for any cluster: the page at
http://127.0.0.1:8090/console/, its calls passed on to one node's client port (--server, default the
local cluster's first node; --ca for its TLS; without a CA the node is called in cleartext h2c). You sign
in in the page with your geobroker user: the node decides what you may see and do. Nodes need no
console.enabled for this, and no CORS setting.

  --server host:port   the node to call (also --endpoint, GEOBROKER_ENDPOINT)
  --listen host:port   where to serve the page (default 127.0.0.1:8090; keep it on loopback: the page
                       is plain http)

${connectionUsage}`;

export const consoleCommand: Command = {
  name: "console",
  summary: "serve the web console on this machine for any cluster",
  usage,
  async run(args) {
    const values = parseFlags("console", usage, args, {
      ...connectionOptions,
      server: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:8090" },
    });
    if (!values) return 2;
    const listen = /^(.+):(\d{1,5})$/.exec(String(values.listen));
    if (!listen) {
      console.error("geobroker console: --listen host:port");
      return 2;
    }
    let target: ReturnType<typeof resolveTarget>;
    try {
      const server = typeof values.server === "string" ? { endpoint: values.server } : {};
      target = resolveTarget({ ...connectionFrom(values), ...server });
    } catch (err) {
      console.error(`geobroker console: ${(err as Error).message}`);
      return 2;
    }
    try {
      const s = await startConsoleServer({
        host: listen[1]!,
        port: Number(listen[2]),
        server: target.endpoint,
        ...(target.ca ? { ca: readFileSync(target.ca) } : {}),
        assetsDir: join(projectRoot(), "dist", "console-app"),
      });
      console.log(
        `geobroker console: http://${listen[1]}:${s.port}/console/ (calls go to ${target.endpoint}); Ctrl-C stops it`,
      );
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await s.close();
      return 0;
    } catch (err) {
      console.error(`geobroker console: ${(err as Error).message}`);
      return 1;
    }
  },
};
