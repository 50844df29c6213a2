import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { startClientServer } from "../../src/api/client-server.js";
import { startConsoleServer } from "../../src/cli/console-server.js";
import { defaultInputLimits } from "../../src/engine/limits.js";
import { NodeMetrics } from "../../src/observability/metrics.js";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import { hashPassword } from "../../src/security/passwords.js";
import { MemoryEngine } from "../support/memory-engine.js";

// `geobroker console`: the page from this machine, its Connect calls (HTTP/1.1, as a browser makes
// them) passed on to a node's client port with the user's own credentials, unary and streaming.

const basic =
  (user: string, password: string): Interceptor =>
  (next) =>
  async (req) => {
    req.header.set("authorization", `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`);
    return next(req);
  };

function get(port: number, path: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port, path }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        })
        .on("error", reject);
    },
  );
}

test("geobroker console: serves the page and passes the page's calls to the node, credentials and all", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gb-console-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>console</title>");
  const node = await startClientServer({
    host: "127.0.0.1",
    port: 0,
    engine: new MemoryEngine(),
    limits: defaultInputLimits,
    authenticator: new BasicAuthenticator([{ name: "alice", passwordHash: await hashPassword("pw") }]),
    health: { live: () => true, ready: () => ({ ready: true, reason: "" }) },
    observer: new NodeMetrics({ node: "test-0" }),
  });
  const local = await startConsoleServer({
    host: "127.0.0.1",
    port: 0,
    server: `127.0.0.1:${node.port}`,
    assetsDir: dir,
  });
  const page = (interceptors: Interceptor[]) =>
    createConnectTransport({ baseUrl: `http://127.0.0.1:${local.port}`, httpVersion: "1.1", interceptors });
  try {
    const index = await get(local.port, "/console/");
    assert.equal(index.status, 200);
    assert.equal(index.body, "<!doctype html><title>console</title>");
    assert.match(String(index.headers["content-security-policy"]), /connect-src 'self'/);
    assert.equal((await get(local.port, "/")).headers.location, "/console/");
    assert.equal((await get(local.port, "/etc/passwd")).status, 404, "only the page and API calls");

    const alice = page([basic("alice", "pw")]);
    await createClient(PublishService, alice).publish({ topic: "t", body: new TextEncoder().encode("hi") });
    const topics = await createClient(TopicService, alice).listTopics({});
    assert.deepEqual(
      topics.topics.map((t) => t.name),
      ["t"],
    );
    // A server stream (the Messages view's tail) through the proxy, ended by the reader.
    const ac = new AbortController();
    for await (const r of createClient(ConsumeService, alice).subscribe(
      { topic: "t", start: { position: { case: "earliest", value: true } } },
      { signal: ac.signal },
    )) {
      assert.equal(new TextDecoder().decode(r.message?.body), "hi");
      ac.abort();
      break;
    }
    // The node, not the proxy, decides: a wrong password is refused with the node's own code.
    await assert.rejects(
      createClient(TopicService, page([basic("alice", "wrong")])).listTopics({}),
      (err: unknown) => err instanceof ConnectError && err.code === Code.Unauthenticated,
    );
  } finally {
    await local.close();
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("geobroker console: a node that cannot be reached is UNAVAILABLE in the page, naming it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gb-console-"));
  writeFileSync(join(dir, "index.html"), "<!doctype html>");
  const local = await startConsoleServer({
    host: "127.0.0.1",
    port: 0,
    server: "127.0.0.1:1",
    assetsDir: dir,
  });
  try {
    await assert.rejects(
      createClient(
        TopicService,
        createConnectTransport({ baseUrl: `http://127.0.0.1:${local.port}`, httpVersion: "1.1" }),
      ).listTopics({}),
      (err: unknown) =>
        err instanceof ConnectError && err.code === Code.Unavailable && /127\.0\.0\.1:1/.test(err.rawMessage),
    );
  } finally {
    await local.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
