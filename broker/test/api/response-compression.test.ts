import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema } from "../../../gen/geobroker/v1/consume_pb.js";
import {
  PublishBatchRequestSchema,
  PublishBatchResponseSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import { type ClientServer, startClientServer } from "../../src/api/client-server.js";
import { defaultInputLimits } from "../../src/engine/limits.js";
import { NodeMetrics } from "../../src/observability/metrics.js";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import { hashPassword } from "../../src/security/passwords.js";
import { basicHeader, connectRaw, envelope, rawCall } from "../security/hostile-client.js";
import { MemoryEngine } from "../support/memory-engine.js";

// Issue 23: the client port does not gzip PublishService's responses, even for a client that
// accepts gzip. A batch's acks were compressed (connect's default: every response frame over 1 KiB),
// ~9% of the leader's sampled CPU in the batched bench cell (docs/benchmarks.md), to save a few KiB
// on loopback or a LAN. Deliveries keep connect's default (decision 0048).

let server: ClientServer;

before(async () => {
  server = await startClientServer({
    host: "127.0.0.1",
    port: 0,
    engine: new MemoryEngine(),
    limits: defaultInputLimits,
    authenticator: new BasicAuthenticator([{ name: "alice", passwordHash: await hashPassword("s3cret") }]),
    health: { live: () => true, ready: () => ({ ready: true, reason: "" }) },
    observer: new NodeMetrics({ node: "test-0" }),
  });
});
after(async () => {
  await server.close();
});

test("a batch's acks come back uncompressed to a client that accepts gzip", async () => {
  const messages = Array.from({ length: 200 }, (_, i) => ({ topic: "orders", body: Buffer.from(`m${i}`) }));
  const s = connectRaw(`http://127.0.0.1:${server.port}`);
  try {
    const a = await rawCall(s, {
      path: "/geobroker.v1.PublishService/PublishBatch",
      headers: { authorization: basicHeader("alice", "s3cret"), "grpc-accept-encoding": "gzip" },
      body: envelope(
        Buffer.from(toBinary(PublishBatchRequestSchema, create(PublishBatchRequestSchema, { messages }))),
      ),
    });
    assert.equal(a.grpcStatus, 0, a.grpcMessage);
    assert.equal(a.body[0], 0, "the response frame's compressed flag");
    const length = a.body.readUInt32BE(1);
    assert.ok(length > 1024, `the response (${length} bytes) is past connect's 1 KiB compression threshold`);
    const res = fromBinary(PublishBatchResponseSchema, a.body.subarray(5, 5 + length));
    assert.equal(res.results.filter((r) => r.result.case === "ack").length, 200);
  } finally {
    s.close();
  }
});

test("a delivery over 1 KiB is still gzipped for a client that accepts it", async () => {
  const s = connectRaw(`http://127.0.0.1:${server.port}`);
  const headers = { authorization: basicHeader("alice", "s3cret"), "grpc-accept-encoding": "gzip" };
  try {
    const body = Buffer.alloc(4000, 7);
    const published = await rawCall(s, {
      path: "/geobroker.v1.PublishService/PublishBatch",
      headers,
      body: envelope(
        Buffer.from(
          toBinary(
            PublishBatchRequestSchema,
            create(PublishBatchRequestSchema, { messages: [{ topic: "big", body }] }),
          ),
        ),
      ),
    });
    assert.equal(published.grpcStatus, 0, published.grpcMessage);
    const request = create(SubscribeRequestSchema, {
      topic: "big",
      start: { position: { case: "earliest", value: true } },
    });
    // A subscription does not end: the call is cut after a second, with the first frame in.
    const a = await rawCall(s, {
      path: "/geobroker.v1.ConsumeService/Subscribe",
      headers,
      body: envelope(Buffer.from(toBinary(SubscribeRequestSchema, request))),
      timeoutMs: 1000,
    });
    assert.ok(a.body.length > 5, "a delivery came");
    assert.equal(a.body[0], 1, "the delivery frame is compressed");
  } finally {
    s.close();
  }
});
