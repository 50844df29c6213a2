import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ClientServer } from "../../src/api/client-server.js";
import { consoleAssets, resolveConsoleRequest } from "../../src/api/console-assets.js";
import { resolveConfig } from "../../src/config/load.js";
import { testClientServer } from "../support/test-client-server.js";

// The web console's pages on the client port (docs/console.md): only files of the built folder, only
// GET/HEAD, the page's own routes answered with index.html, and nothing else of the port loosened.

const files = new Set(["index.html", "assets/index-abc.js", "assets/index-abc.css"]);

test("console paths: files of the folder only; routes get index.html; no way out of the folder", () => {
  const r = (url: string, method = "GET") => resolveConsoleRequest(method, url, files);
  assert.deepEqual(r("/console"), { kind: "redirect", location: "/console/" });
  assert.deepEqual(r("/console/"), { kind: "file", relPath: "index.html" });
  assert.deepEqual(r("/console/?x=1#/map"), { kind: "file", relPath: "index.html" });
  assert.deepEqual(
    r("/console/topics"),
    { kind: "file", relPath: "index.html" },
    "a view's path: the page routes",
  );
  assert.deepEqual(r("/console/assets/index-abc.js", "HEAD"), {
    kind: "file",
    relPath: "assets/index-abc.js",
  });
  for (const url of [
    "/console/../package.json",
    "/console/%2e%2e/package.json",
    "/console/assets%2F..%2F..%2Fx.js",
    "/console/%E0%A4%A",
  ])
    assert.deepEqual(r(url), { kind: "not-found" }, url);
  assert.deepEqual(r("/console/", "POST"), { kind: "method-not-allowed" });
  assert.equal(r("/consoles"), undefined, "another path: not the console's");
  assert.equal(r("/geobroker.v1.TopicService/ListTopics"), undefined);
});

test("console.enabled without a built console fails at start, saying how to build it", () => {
  const empty = mkdtempSync(join(tmpdir(), "gb-console-"));
  try {
    assert.throws(
      () => consoleAssets(empty),
      (err: unknown) =>
        err instanceof ConnectError &&
        err.code === Code.FailedPrecondition &&
        /npm run build/.test(err.rawMessage),
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("console is off by default; console.enabled and assetsDir are validated", () => {
  const base = {
    nodeId: "eu-0",
    region: "eu",
    peers: [{ id: "eu-0", region: "eu", peerAddress: "127.0.0.1:9100", clientAddress: "127.0.0.1:9000" }],
    auth: { modes: ["none"] },
  };
  assert.deepEqual(resolveConfig([base]).console, { enabled: false, assetsDir: "" });
  assert.throws(
    () => resolveConfig([{ ...base, console: { enabled: "yes" } }]),
    /console.enabled: true or false/,
  );
  assert.throws(
    () => resolveConfig([{ ...base, console: { enabled: true, assetsDir: 3 } }]),
    /console.assetsDir/,
  );
});

function get(port: number, path: string, method = "GET") {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", reject);
      const req = session.request({ ":path": path, ":method": method });
      let body = "";
      let headers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => (headers = h));
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        session.close();
        resolve({ status: Number(headers[":status"]), headers, body });
      });
      req.on("error", reject);
      req.end();
    },
  );
}

async function server(console?: ReturnType<typeof consoleAssets>): Promise<ClientServer> {
  return testClientServer(console ? { console } : {});
}

test("a client port with the console serves its files without credentials, the API still needs them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gb-console-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>c</title>");
  writeFileSync(join(dir, "assets", "index-abc.js"), "console.log(1)");
  const on = await server(consoleAssets(dir));
  const off = await server();
  try {
    const page = await get(on.port, "/console/");
    assert.equal(page.status, 200);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.match(String(page.headers["content-security-policy"]), /default-src 'self'; connect-src 'self'/);
    assert.match(String(page.headers["content-security-policy"]), /frame-ancestors 'none'/);
    assert.equal(page.headers["cache-control"], "no-cache");
    assert.equal(page.body, "<!doctype html><title>c</title>");
    const script = await get(on.port, "/console/assets/index-abc.js");
    assert.equal(script.status, 200);
    assert.equal(script.headers["content-type"], "text/javascript; charset=utf-8");
    assert.match(String(script.headers["cache-control"]), /immutable/);
    assert.equal((await get(on.port, "/console/assets/index-abc.js", "HEAD")).body, "");
    assert.equal((await get(on.port, "/console/../package.json")).status, 404);
    assert.equal((await get(on.port, "/console/", "POST")).status, 405);
    assert.equal((await get(on.port, "/console")).headers.location, "/console/");
    // The API next to it: a call without credentials is still refused.
    const api = await get(on.port, "/geobroker.v1.TopicService/ListTopics", "POST");
    assert.notEqual(api.status, 200);
    assert.equal(
      (await get(off.port, "/console/")).status === 200,
      false,
      "without the option nothing is served",
    );
  } finally {
    await on.close();
    await off.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
