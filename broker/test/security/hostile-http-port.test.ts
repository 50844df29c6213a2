import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../support/process-cluster.js";
import { basicHeader } from "./hostile-client.js";
import { folderWithAcl, writerAndOps } from "./hostile-setup.js";
import { auditLines, type LiveNode, startLiveNode } from "./live-node.js";

// Issue #19: `curl -X POST host:7200/drain` answered 200 and moved the node's leaderships away, and
// /metrics was open. The HTTP port binds every interface in production: /drain there needs a
// cluster admin; the preStop hook drains through the loopback-only admin port.

describe("hostile input: the HTTP port (/drain, /metrics)", () => {
  let node: LiveNode;
  let adminPort: number;
  const http = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${node.httpPort}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });

  before(async () => {
    const { dir, aclFile } = folderWithAcl("http", writerAndOps(["*"]));
    writeFileSync(join(dir, "metrics.token"), "scrape-token-0123456789\n");
    adminPort = await freePort();
    node = await startLiveNode({
      dir,
      users: { writer: "writer-password-1", ops: "ops-password-1" },
      config: {
        ports: { admin: adminPort },
        auth: {
          modes: ["basic"],
          aclFile,
          metricsTokenFile: join(dir, "metrics.token"),
        },
      },
    });
    // startLiveNode fills in the other ports; the admin port came from the test.
  });
  after(async () => {
    await node?.stop();
    if (node) rmSync(node.dir, { recursive: true, force: true });
  });

  test("POST /drain without credentials is 401, by a non-admin 403, with a wrong password 401", async () => {
    const none = await http("/drain", { method: "POST" });
    assert.equal(none.status, 401);
    assert.match(await none.text(), /cluster admin's credentials/);
    const writer = await http("/drain", {
      method: "POST",
      headers: { authorization: basicHeader("writer", "writer-password-1") },
    });
    assert.equal(writer.status, 403);
    assert.match(await writer.text(), /user "writer" is not allowed cluster administration/);
    const wrong = await http("/drain", {
      method: "POST",
      headers: { authorization: basicHeader("ops", "not-it") },
    });
    assert.equal(wrong.status, 401);
    const line = auditLines(node, "auth.failure").find((l) => l.method === "HTTP /drain");
    assert.equal(line?.address, "127.0.0.1");
  });

  test("GET /drain (any method but POST) is 405 and drains nothing", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const r = await http("/drain", { method });
      assert.equal(r.status, 405, method);
    }
  });

  test("a cluster admin may POST /drain on the HTTP port", async () => {
    const r = await http("/drain", {
      method: "POST",
      headers: { authorization: basicHeader("ops", "ops-password-1") },
    });
    // A single node has nowhere to move its leaderships: the drain answers, 200 or 503, not 401/403.
    assert.ok(r.status === 200 || r.status === 503, `status ${r.status}`);
  });

  test("the admin port serves POST /drain without credentials on loopback only", async () => {
    const r = await fetch(`http://127.0.0.1:${adminPort}/drain`, {
      method: "POST",
      signal: AbortSignal.timeout(15_000),
    });
    assert.ok(r.status === 200 || r.status === 503, `status ${r.status}`);
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/metrics`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/drain`)).status, 405);
  });

  test("/metrics needs the token when one is configured; health probes stay open", async () => {
    assert.equal((await http("/metrics")).status, 401);
    assert.equal((await http("/metrics", { headers: { authorization: "bearer wrong" } })).status, 401);
    const ok = await http("/metrics", { headers: { authorization: "bearer scrape-token-0123456789" } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /# HELP/);
    assert.equal((await http("/healthz")).status, 200);
    assert.equal((await http("/readyz")).status, 200);
  });
});
