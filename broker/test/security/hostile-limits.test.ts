import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  basicHeader,
  connectRaw,
  envelope,
  gzipBomb,
  probeLatency,
  rawCall,
  residentBytes,
  unknownFieldVarints,
} from "./hostile-client.js";
import { folderWithAcl, writerAndOps } from "./hostile-setup.js";
import { auditLines, type LiveNode, startLiveNode } from "./live-node.js";

// Issue #19, "limits before work": what an unauthenticated client can make a node spend. Each test
// is an attack from the report, against a live node over h2c with basic auth and an ACL in force;
// each asserts the exact code, the node's memory and event-loop delay, and that it still serves.

const password = "hostile-password-1";
const auth = basicHeader("writer", password);
const mib = 1024 * 1024;

describe("hostile input: limits before work (live node, h2c, basic + ACL)", () => {
  let node: LiveNode;
  const url = () => `http://127.0.0.1:${node.clientPort}`;

  before(async () => {
    const { dir, aclFile } = folderWithAcl("hostile", writerAndOps(["hostile.*"]));
    node = await startLiveNode({
      dir,
      users: { writer: password, ops: "ops-password-1" },
      config: { auth: { modes: ["basic"], aclFile } },
    });
  });
  after(async () => {
    await node?.stop();
    if (node) rmSync(node.dir, { recursive: true, force: true });
  });

  async function stillServes(): Promise<void> {
    const s = connectRaw(url());
    try {
      const a = await rawCall(s, {
        path: "/grpc.health.v1.Health/Check",
        body: envelope(Buffer.alloc(0)),
      });
      assert.equal(a.grpcStatus, 0, `health check after the attack: ${a.grpcMessage}`);
    } finally {
      s.close();
    }
    assert.equal(node.alive(), true);
  }

  test("a 32 MiB gzip health request is RESOURCE_EXHAUSTED and costs the node < 50 MB", async () => {
    const bomb = gzipBomb(32 * mib);
    assert.ok(bomb.length < 256 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
    const before = residentBytes(node.child.pid!);
    const probe = probeLatency(`http://127.0.0.1:${node.httpPort}/healthz`);
    const s = connectRaw(url());
    try {
      for (const path of ["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"]) {
        const a = await rawCall(s, {
          path,
          headers: { "grpc-encoding": "gzip" },
          body: envelope(bomb, true),
          timeoutMs: 20_000,
        });
        assert.equal(a.grpcStatus, Code.ResourceExhausted, `${path}: ${a.grpcMessage}`);
      }
    } finally {
      s.close();
    }
    const worstMs = await probe.stop();
    const grown = residentBytes(node.child.pid!) - before;
    assert.ok(grown < 50 * mib, `resident memory grew ${(grown / mib).toFixed(1)} MB`);
    assert.ok(worstMs < 1000, `the HTTP port answered within ${worstMs.toFixed(0)} ms`);
    await stillServes();
  });

  test("an unauthenticated unary request is refused before its body is decoded", async () => {
    // 1 MiB of unknown fields: under readMaxBytes, so only authentication stands before decoding.
    const body = envelope(unknownFieldVarints(1 * mib));
    const before = residentBytes(node.child.pid!);
    const s = connectRaw(url());
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, () =>
          rawCall(s, { path: "/geobroker.v1.PublishService/Publish", body, timeoutMs: 20_000 }),
        ),
      );
      for (const a of answers) assert.equal(a.grpcStatus, Code.Unauthenticated, a.grpcMessage);
      const wrong = await rawCall(s, {
        path: "/geobroker.v1.PublishService/Publish",
        headers: { authorization: basicHeader("writer", "wrong") },
        body,
      });
      assert.equal(wrong.grpcStatus, Code.Unauthenticated, wrong.grpcMessage);
    } finally {
      s.close();
    }
    const grown = residentBytes(node.child.pid!) - before;
    assert.ok(grown < 50 * mib, `resident memory grew ${(grown / mib).toFixed(1)} MB`);
    const failure = auditLines(node, "auth.failure").at(-1);
    assert.equal(failure?.address, "127.0.0.1", "auth failures name the client address");
    await stillServes();
  });

  test("an authenticated request's unknown fields are skipped, not kept", async () => {
    const s = connectRaw(url());
    const before = residentBytes(node.child.pid!);
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          rawCall(s, {
            path: "/geobroker.v1.TopicService/ListTopics",
            headers: { authorization: auth },
            body: envelope(unknownFieldVarints(1 * mib)),
            timeoutMs: 20_000,
          }),
        ),
      );
      for (const a of answers) assert.equal(a.grpcStatus, 0, a.grpcMessage);
    } finally {
      s.close();
    }
    // 10 MiB of bodies in flight, buffered and copied by HTTP/2 and connect: ~65 MB measured.
    // Keeping the unknown fields, the same calls grew the node by ~870 MB.
    const grown = residentBytes(node.child.pid!) - before;
    assert.ok(grown < 150 * mib, `resident memory grew ${(grown / mib).toFixed(1)} MB`);
  });

  test("HTTP/2 concurrent streams per connection are capped (SETTINGS_MAX_CONCURRENT_STREAMS)", async () => {
    const s = connectRaw(url());
    try {
      await new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()));
      assert.equal(s.remoteSettings.maxConcurrentStreams, 100);
    } finally {
      s.close();
    }
  });
});
