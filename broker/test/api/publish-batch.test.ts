import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { PublishResult } from "../../../gen/geobroker/v1/publish_pb.js";
import { InProcessCluster } from "../support/in-process-cluster.js";

// Issue 23: PublishBatch and batch frames on PublishStream, over a whole in-process cluster (the
// production services, engine and stores; test/support/in-process-cluster.ts).

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "us-0", region: "us" },
  { id: "ap-0", region: "ap" },
];
const text = (s: string) => new TextEncoder().encode(s);
const limits = { maxBatchMessages: 50, maxBatchBytes: 4096, maxMessageBytes: 1024 };

function summary(results: PublishResult[]): string[] {
  return results.map((r) =>
    r.result.case === "ack"
      ? `ack ${r.result.value.topic}/${r.result.value.partition}/${r.result.value.offset}`
      : `error ${r.result.value?.code}`,
  );
}

async function codeOf(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  return { code: Code.Unknown, message: "no error" };
}

describe("publish batches", () => {
  let cluster: InProcessCluster;
  let leader: string;
  before(async () => {
    cluster = await InProcessCluster.start({ nodes, seed: 29, config: { limits } });
    await cluster.ready();
    const topics = cluster.clients("eu-0").topics;
    await topics.createTopic({ topic: { name: "one", partitions: 1, replicationFactor: 3 } });
    await topics.createTopic({ topic: { name: "three", partitions: 3, replicationFactor: 3 } });
    await cluster.ready();
    leader = (await topics.getTopic({ name: "one" })).topic!.partitionInfo[0]!.leaderNodeId;
  });
  after(async () => {
    await cluster.stop();
  });

  test("one result per message, in order: acks with consecutive offsets, and each bad message its own error", async () => {
    const r = await cluster.clients("us-0").publish.publishBatch({
      messages: [
        { topic: "one", body: text("a") },
        { topic: "_reserved", body: text("x") },
        { topic: "one", body: text("b") },
        { topic: "one", body: new Uint8Array(2000) },
        { topic: "one", body: text("c"), partition: 5 },
        { topic: "one", body: text("d") },
      ],
    });
    assert.deepEqual(summary(r.results), [
      "ack one/0/0",
      `error ${Code.InvalidArgument}`,
      "ack one/0/1",
      `error ${Code.InvalidArgument}`,
      `error ${Code.InvalidArgument}`,
      "ack one/0/2",
    ]);
    const tooBig = r.results[3]!.result;
    assert.ok(tooBig.case === "error" && /2000 bytes; the limit is 1024/.test(tooBig.value.message));
    assert.deepEqual(await cluster.readAll("eu-0", "one", 3), ["a", "b", "d"]);
  });

  test("a batch across partitions: every message lands on its partition, offsets per partition", async () => {
    const r = await cluster.clients("eu-0").publish.publishBatch({
      messages: [0, 1, 2, 0, 2, 0].map((partition, i) => ({
        topic: "three",
        body: text(`m${i}`),
        partition,
      })),
    });
    assert.deepEqual(summary(r.results), [
      "ack three/0/0",
      "ack three/1/0",
      "ack three/2/0",
      "ack three/0/1",
      "ack three/2/1",
      "ack three/0/2",
    ]);
  });

  test("bounds: too many messages is INVALID_ARGUMENT, too many bytes RESOURCE_EXHAUSTED, an empty batch INVALID_ARGUMENT", async () => {
    const publish = cluster.clients("eu-0").publish;
    const many = await codeOf(
      publish.publishBatch({
        messages: Array.from({ length: 51 }, () => ({ topic: "one", body: text("x") })),
      }),
    );
    assert.equal(many.code, Code.InvalidArgument);
    assert.match(many.message, /51 messages; the limit is 50 \(limits\.maxBatchMessages\)/);
    const big = await codeOf(
      publish.publishBatch({
        messages: Array.from({ length: 5 }, () => ({ topic: "one", body: new Uint8Array(1000) })),
      }),
    );
    assert.equal(big.code, Code.ResourceExhausted);
    assert.match(big.message, /5000 bytes .*the limit is 4096 \(limits\.maxBatchBytes\)/);
    const empty = await codeOf(publish.publishBatch({ messages: [] }));
    assert.equal(empty.code, Code.InvalidArgument);
  });

  test("a batch to one partition is one Raft proposal: one entry for 40 messages", async () => {
    const publish = cluster.clients(leader).publish;
    await publish.publish({ topic: "one", body: text("warm") });
    const groupId = Number(
      (await cluster.clients(leader).topics.getTopic({ name: "one" })).topic!.partitionInfo[0]!.groupId,
    );
    const core = cluster.node(leader).groupRunners().get(groupId)!.core;
    const lastIndex = core.status().lastIndex;
    const r = await publish.publishBatch({
      messages: Array.from({ length: 40 }, (_, i) => ({ topic: "one", body: text(`b${i}`) })),
    });
    assert.equal(r.results.filter((x) => x.result.case === "ack").length, 40);
    const offsets = r.results.map((x) => (x.result.case === "ack" ? Number(x.result.value.offset) : -1));
    assert.deepEqual(
      offsets,
      offsets.map((_, i) => offsets[0]! + i),
      "consecutive offsets",
    );
    assert.equal(core.status().lastIndex - lastIndex, 1, "one Raft entry for the batch");
  });

  test("PublishStream batch frames: one response per frame with a result per message; single frames unchanged", async () => {
    const publish = cluster.clients("ap-0").publish;
    async function* frames() {
      yield {
        sequence: 10n,
        batch: [
          { topic: "one", body: text("s1") },
          { topic: "_bad", body: text("s2") },
        ],
      };
      yield { sequence: 11n, request: { topic: "one", body: text("s3") } };
      yield { sequence: 12n, request: { topic: "one" }, batch: [{ topic: "one" }] };
      yield {
        sequence: 13n,
        batch: Array.from({ length: 51 }, () => ({ topic: "one", body: text("x") })),
      };
    }
    const got = new Map<bigint, string[]>();
    for await (const res of publish.publishStream(frames())) {
      got.set(
        res.sequence,
        res.batchResults.length > 0
          ? summary(res.batchResults).map((s) => s.replace(/\/\d+$/, ""))
          : [res.result.case === "ack" ? "ack" : `error ${res.result.value?.code}`],
      );
    }
    assert.deepEqual(got.get(10n), ["ack one/0", `error ${Code.InvalidArgument}`]);
    assert.deepEqual(got.get(11n), ["ack"]);
    assert.deepEqual(got.get(12n), [`error ${Code.InvalidArgument}`], "request and batch together");
    assert.deepEqual(got.get(13n), [`error ${Code.InvalidArgument}`], "a frame over the bound");
  });
});
