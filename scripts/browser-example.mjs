#!/usr/bin/env node
// Serves the browser example (examples/browser/) on 127.0.0.1: the page, the compiled client
// (dist/), the three packages it imports (through an import map built from their package.json
// exports), and /config.json from a local cluster's cluster.json. The page calls the nodes'
// client ports directly, so the cluster must allow this origin: geobroker local --cors-origin.
//   npm run build && bin/geobroker local --cors-origin http://127.0.0.1:8080   (terminal 1)
//   node scripts/browser-example.mjs [--port 8080] [--cluster-file .geobroker/local/cluster.json]
import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { parseArgs } from "node:util";

const root = new URL("..", import.meta.url).pathname;
const packages = ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"];
const types = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".json": "application/json",
  ".map": "application/json",
};
// Only these folders are served: nothing else of the checkout (its .geobroker/ above all).
const served = [
  "examples/browser/",
  "dist/broker/src/client/",
  "dist/broker/src/engine/",
  "dist/broker/src/util/",
  "dist/gen/",
  ...packages.map((p) => `node_modules/${p}/dist/esm/`),
];

function importMap() {
  const imports = { "geobroker/client/web": "/dist/broker/src/client/web.js" };
  for (const p of packages) {
    const exports = JSON.parse(readFileSync(join(root, "node_modules", p, "package.json"), "utf8")).exports;
    for (const [sub, target] of Object.entries(exports)) {
      const file = typeof target === "string" ? target : target.import;
      if (typeof file === "string" && file.endsWith(".js"))
        imports[sub === "." ? p : `${p}/${sub.slice(2)}`] = `/node_modules/${p}/${file.slice(2)}`;
    }
  }
  return { imports };
}

export function startExampleServer({
  port = 8080,
  clusterFile = join(root, ".geobroker/local/cluster.json"),
} = {}) {
  const map = JSON.stringify(importMap());
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    // Browsers take an import map only inline: the page gets it written in.
    if (path === "/")
      return send(
        200,
        types[".html"],
        readFileSync(join(root, "examples/browser/index.html"), "utf8").replace(
          /<!-- importmap:.*-->/,
          `<script type="importmap">${map}</script>`,
        ),
      );
    if (path === "/config.json") {
      const c = JSON.parse(readFileSync(clusterFile, "utf8"));
      return send(
        200,
        types[".json"],
        JSON.stringify({ regions: c.regions, tls: c.tls, username: c.username, password: c.password }),
      );
    }
    const rel = normalize(path === "/app.js" ? "examples/browser/app.js" : path.slice(1));
    if (!served.some((prefix) => rel.startsWith(prefix))) return send(404, "text/plain", "not served");
    try {
      const file = join(root, rel);
      if (!statSync(file).isFile()) throw new Error("not a file");
      send(200, types[extname(file)] ?? "application/octet-stream", readFileSync(file));
    } catch {
      send(404, "text/plain", "not found");
    }
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { port: { type: "string", default: "8080" }, "cluster-file": { type: "string" } },
  });
  await startExampleServer({
    port: Number(values.port),
    ...(values["cluster-file"] ? { clusterFile: values["cluster-file"] } : {}),
  });
  console.log(
    `the browser example: http://127.0.0.1:${values.port}/ (the cluster needs --cors-origin http://127.0.0.1:${values.port})`,
  );
}
