import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { GetClusterInfoResponseSchema } from "../../../gen/geobroker/v1/cluster_pb.js";
import {
  type PublishRequest,
  type PublishService,
  type PublishStreamResponse,
  PublishStreamResponseSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import type { BatchSender, PublishOutcome } from "../../src/client/batch-sender.js";
import { GeoBrokerError } from "../../src/client/errors.js";
import { Producer } from "../../src/client/producer.js";
import { Router } from "../../src/client/router.js";
import { StatusEmitter, type StatusEvent } from "../../src/client/status.js";
import { type FakeNode, fakeClient, fakeNode } from "./fake-nodes.js";

const ack = (r: PublishRequest, offset: number): PublishOutcome => ({
  ok: true,
  ack: {
    $typeName: "geobroker.v1.PublishResponse",
    topic: r.topic,
    partition: 0,
    offset: BigInt(offset),
    timestampMicros: 0n,
    id: `${r.topic}/0/${offset}`,
    duplicate: false,
  },
});

/** A sender that records each batch and answers only when the test releases it. */
class HeldSender implements BatchSender {
  batches: PublishRequest[][] = [];
  private releases: (() => void)[] = [];
  private offset = 0;
  send(_address: string, batch: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    this.batches.push([...batch]);
    return new Promise((resolve) =>
      this.releases.push(() => resolve(batch.map((r) => ack(r, this.offset++)))),
    );
  }
  releaseAll(): void {
    for (const r of this.releases.splice(0)) r();
  }
  close(): void {}
}

const router = () =>
  new Router({
    endpoints: ["a:1"],
    transports: () => assert.fail("no transport in this test"),
    status: new StatusEmitter(),
  });

test("batches close at batchMaxMessages, and a partial batch goes out after lingerMs", async () => {
  const sender = new HeldSender();
  const p = new Producer(router(), sender, { lingerMs: 30, batchMaxMessages: 3 });
  const queued = [];
  for (let i = 0; i < 7; i++) queued.push(await p.queue({ topic: "t", body: `m${i}` }));
  assert.deepEqual(
    sender.batches.map((b) => b.length),
    [3, 3],
    "two full batches at once; the seventh message lingers",
  );
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(
    sender.batches.map((b) => b.length),
    [3, 3, 1],
  );
  sender.releaseAll();
  const results = await Promise.all(queued.map((q) => q.result));
  assert.deepEqual(
    results.map((r) => r.offset),
    [0n, 1n, 2n, 3n, 4n, 5n, 6n],
  );
  assert.deepEqual(
    sender.batches.flat().map((r) => new TextDecoder().decode(r.body)),
    ["m0", "m1", "m2", "m3", "m4", "m5", "m6"],
  );
});

test("batchMaxBytes closes a batch before batchMaxMessages", async () => {
  const sender = new HeldSender();
  const p = new Producer(router(), sender, { lingerMs: 1000, batchMaxMessages: 100, batchMaxBytes: 10 });
  await p.queue({ topic: "t", body: "12345" });
  assert.equal(sender.batches.length, 0);
  await p.queue({ topic: "t", body: "67890" });
  assert.deepEqual(
    sender.batches.map((b) => b.length),
    [2],
  );
  sender.releaseAll();
  await p.flush();
});

test("queue waits while maxInFlight messages are unacknowledged, and flush sends what lingers", async () => {
  const sender = new HeldSender();
  const p = new Producer(router(), sender, { lingerMs: 10_000, maxInFlight: 2 });
  await p.queue({ topic: "t", body: "a" });
  await p.queue({ topic: "t", body: "b" });
  let third = false;
  const waiting = p.queue({ topic: "t", body: "c" }).then((q) => {
    third = true;
    return q;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, false, "a third message is not accepted while two are in flight");
  assert.equal(p.pending, 2);
  const flushed = p.flush();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    sender.batches.map((b) => b.length),
    [2],
    "flush sends the lingering batch at once",
  );
  sender.releaseAll();
  const q = await waiting;
  assert.equal(third, true);
  await new Promise((r) => setImmediate(r));
  sender.releaseAll();
  await q.result;
  await flushed;
  assert.equal(p.pending, 0);
});

test("every message gets its own message id when idempotent (the default), none when not", async () => {
  const sender = new HeldSender();
  const p = new Producer(router(), sender, { lingerMs: 0 });
  const a = await p.queue({ topic: "t", body: "a" });
  const b = await p.queue({ topic: "t", body: "b" });
  const own = await p.queue({ topic: "t", body: "c", messageId: "mine" });
  assert.notEqual(a.messageId, "");
  assert.notEqual(a.messageId, b.messageId);
  assert.equal(own.messageId, "mine");
  const plain = new Producer(router(), sender, { lingerMs: 0, idempotent: false });
  assert.equal((await plain.queue({ topic: "t", body: "d" })).messageId, "");
  sender.releaseAll();
});

/** A PublishStream that fails each message id's first `failures` attempts with `error`, then acks. */
function flakyLog(
  failures: number,
  error: { code: Code; info?: { retrySafe: boolean; leader?: { nodeId: string; clientAddress: string } } },
) {
  const seen: string[] = [];
  const attempts = new Map<string, number>();
  let offset = 0n;
  const impl: Partial<ServiceImpl<typeof PublishService>> = {
    async *publishStream(requests) {
      for await (const item of requests) {
        const r = item.request!;
        seen.push(r.messageId);
        const n = (attempts.get(r.messageId) ?? 0) + 1;
        attempts.set(r.messageId, n);
        yield n <= failures
          ? create(PublishStreamResponseSchema, {
              sequence: item.sequence,
              result: { case: "error", value: { code: error.code, message: "try again", info: error.info } },
            })
          : create(PublishStreamResponseSchema, {
              sequence: item.sequence,
              result: {
                case: "ack",
                value: { topic: r.topic, partition: 0, offset: offset++, id: `${r.topic}/0/${offset - 1n}` },
              },
            });
      }
    },
  };
  return { impl, seen };
}

test("a publish whose outcome is unknown is retried with the same message id, and resolves once", async () => {
  const log = flakyLog(2, { code: Code.Unavailable });
  const node = fakeNode("a", "eu", { publish: log.impl });
  const client = fakeClient([node]);
  const r = await client.publish({ topic: "t", body: "x" });
  assert.equal(log.seen.length, 3, "two failures, then the ack");
  assert.equal(new Set(log.seen).size, 1, `every attempt carried one message id: ${log.seen.join(", ")}`);
  assert.equal(r.messageId, log.seen[0]);
  assert.equal(r.offset, 0n);
  await client.close();
});

test("without a message id, only a retry-safe failure is retried", async () => {
  const unknown = flakyLog(1, { code: Code.Unavailable });
  const client = fakeClient(
    [fakeNode("a", "eu", { publish: unknown.impl })],
    {},
    { producer: { idempotent: false } },
  );
  await assert.rejects(client.publish({ topic: "t", body: "x" }), (e: unknown) => {
    assert.ok(e instanceof GeoBrokerError);
    assert.equal(e.code, Code.Unavailable);
    assert.equal(e.retryable, true);
    assert.equal(e.retrySafe, false);
    return true;
  });
  assert.equal(unknown.seen.length, 1, "an unknown outcome is not sent again without an id");
  await client.close();

  const safe = flakyLog(1, { code: Code.Unavailable, info: { retrySafe: true } });
  const c2 = fakeClient(
    [fakeNode("a", "eu", { publish: safe.impl })],
    {},
    { producer: { idempotent: false } },
  );
  await c2.publish({ topic: "t", body: "x" });
  assert.equal(safe.seen.length, 2, "a retry-safe failure is sent again");
  await c2.close();
});

test("a failure that cannot pass is not retried, and carries the broker's code", async () => {
  const log = flakyLog(5, { code: Code.InvalidArgument });
  const client = fakeClient([fakeNode("a", "eu", { publish: log.impl })]);
  await assert.rejects(client.publish({ topic: "t", body: "x" }), (e: unknown) => {
    assert.ok(e instanceof GeoBrokerError);
    assert.equal(e.code, Code.InvalidArgument);
    assert.equal(e.codeName, "invalid_argument");
    assert.equal(e.retryable, false);
    return true;
  });
  assert.equal(log.seen.length, 1);
  await client.close();
});

test("a keyed publish goes to its partition's leader, and follows a leader hint to the new one", async () => {
  const b = fakeNode("b", "us");
  // a led partition 0 of t; it answers "not the leader, b is", retry-safe, as notLeader does.
  const moved = flakyLog(1, {
    code: Code.Unavailable,
    info: { retrySafe: true, leader: { nodeId: "b", clientAddress: b.address } },
  });
  const a = fakeNode("a", "eu", { publish: moved.impl });
  const fresh = flakyLog(0, { code: Code.Unavailable });
  b.publish = fresh.impl;
  const client = fakeClient([a, b], { t: ["a"] }, { region: "us" });
  const events: StatusEvent[] = [];
  client.onStatus((e) => events.push(e));
  await client.ready();
  await client.publish({ topic: "t", key: "k", body: "1" });
  assert.equal(
    moved.seen.length,
    1,
    "the first attempt went to the reported leader a, not to b in our region",
  );
  assert.equal(fresh.seen.length, 1, "the retry followed the hint to b");
  assert.equal(fresh.seen[0], moved.seen[0], "with the same message id");
  assert.ok(events.some((e) => e.type === "leader-moved" && e.from === "a" && e.to === "b"));
  await client.publish({ topic: "t", key: "k", body: "2" });
  assert.equal(moved.seen.length, 1, "later publishes go straight to the new leader");
  assert.equal(fresh.seen.length, 2);
  await client.close();
});

test("a node that is gone is skipped: the publish lands at the next node, only later", async () => {
  const down = fakeNode("a", "eu", { publish: flakyLog(0, { code: Code.Unavailable }).impl });
  const upLog = flakyLog(0, { code: Code.Unavailable });
  const up = fakeNode("b", "eu", { publish: upLog.impl });
  const client = fakeClient([down, up]);
  await client.ready();
  down.down = true;
  const events: StatusEvent[] = [];
  client.onStatus((e) => events.push(e));
  const r = await client.publish({ topic: "t", body: "x" });
  assert.equal(r.offset, 0n);
  assert.equal(upLog.seen.length, 1);
  assert.ok(events.some((e) => e.type === "reconnecting" && e.address === down.address));
  assert.ok(events.some((e) => e.type === "connected" && e.address === up.address));
  await client.close();
});

test("onlyEndpoints: calls stay at the given endpoint (a Service), even for a partition led elsewhere", async () => {
  const viaServiceLog = flakyLog(0, { code: Code.Unavailable });
  const viaService = fakeNode("a", "eu", { publish: viaServiceLog.impl });
  const leaderLog = flakyLog(0, { code: Code.Unavailable });
  const leader = fakeNode("b", "us", { publish: leaderLog.impl });
  const client = fakeClient([viaService, leader], { t: ["b"] }, { region: "us", onlyEndpoints: true });
  await client.ready();
  await client.publish({ topic: "t", key: "k", body: "1" });
  await client.admin.clusterInfo();
  assert.equal(viaServiceLog.seen.length, 1, "the publish went to the endpoint, which forwards");
  assert.equal(leaderLog.seen.length, 0);
  assert.deepEqual(leader.calls, [], "the reported leader's address was never dialed");
  await client.close();
});

export type { FakeNode, PublishStreamResponse };

test("keyless messages with ids are pinned to a partition (round robin), so a retry lands where the first try may have", async () => {
  const sender = new HeldSender();
  const r = router();
  r.apply(
    create(GetClusterInfoResponseSchema, {
      nodes: [{ id: "a", region: "eu", clientAddress: "a:1", reachable: true }],
      groups: [0, 1, 2].map((partition) => ({ topic: "t", partition, leaderNodeId: "a" })),
    }),
  );
  const p = new Producer(r, sender, { lingerMs: 0 });
  for (let i = 0; i < 4; i++) await p.queue({ topic: "t", body: `m${i}` });
  await p.queue({ topic: "t", body: "keyed", key: "k" });
  await p.queue({ topic: "unknown-yet", body: "new topic" });
  const plain = new Producer(r, sender, { lingerMs: 0, idempotent: false });
  await plain.queue({ topic: "t", body: "no id" });
  assert.deepEqual(
    sender.batches.flat().map((q) => q.partition),
    [0, 1, 2, 0, undefined, 0, undefined],
    "keyed: the broker hashes the key the same way every time; no id: the broker chooses",
  );
  sender.releaseAll();
});

test("without request streaming (the browser entry) each publish is a unary call, retried with its id; consumers are refused", async () => {
  const ids: string[] = [];
  let calls = 0;
  const node = fakeNode("a", "eu", {
    publish: {
      async publish(r) {
        ids.push(r.messageId);
        if (++calls === 1) throw new ConnectError("node went away", Code.Unavailable);
        return { topic: r.topic, partition: 0, offset: 7n, id: `${r.topic}/0/7` };
      },
    },
  });
  const client = fakeClient([node], { t: ["a"] }, {}, { requestStreaming: false });
  const r = await client.publish({ topic: "t", body: "x" });
  assert.equal(r.offset, 7n);
  assert.equal(ids.length, 2);
  assert.equal(ids[0], ids[1], "the retry carried the same message id");
  assert.ok(!node.calls.includes("PublishStream"));
  assert.throws(
    () => client.consumer({ topic: "t", name: "c" }),
    (e: unknown) => e instanceof GeoBrokerError && e.code === Code.Unimplemented,
  );
  await client.close();
});
