import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { basicHeader } from "./hostile-client.js";
import { type LiveNode, startLiveNode } from "./live-node.js";

// Issue #19: no quotas on topics, partitions (up to 1024) or consumers.

async function codeOf(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("hostile input: quotas on topics, partitions and consumers", () => {
  let node: LiveNode;
  const opts = { headers: { authorization: basicHeader("ops", "ops-password-1") }, timeoutMs: 15_000 };
  before(async () => {
    node = await startLiveNode({
      users: { ops: "ops-password-1" },
      config: {
        auth: { modes: ["basic"] },
        limits: { quotas: { maxTopics: 3, maxPartitionsPerTopic: 4, maxConsumersPerTopic: 2 } },
      },
    });
  });
  after(async () => node?.stop());

  test("topics, partitions per topic and consumers per topic are bounded, with exact codes", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${node.clientPort}` });
    const topics = createClient(TopicService, transport);
    const consume = createClient(ConsumeService, transport);
    assert.equal(
      await codeOf(topics.createTopic({ topic: { name: "q.wide", partitions: 5 } }, opts)),
      Code.InvalidArgument,
    );
    for (const name of ["q.a", "q.b", "q.c"])
      await topics.createTopic({ topic: { name, partitions: 4 } }, opts);
    assert.equal(await codeOf(topics.createTopic({ topic: { name: "q.d" } }, opts)), Code.ResourceExhausted);
    for (const name of ["c1", "c2"]) await consume.createConsumer({ config: { topic: "q.a", name } }, opts);
    assert.equal(
      await codeOf(consume.createConsumer({ config: { topic: "q.a", name: "c3" } }, opts)),
      Code.ResourceExhausted,
    );
    assert.equal(
      await codeOf(consume.createConsumer({ config: { topic: "q.a", name: "c1" } }, opts)),
      Code.AlreadyExists,
    );
    await topics.deleteTopic({ name: "q.c" }, opts);
    assert.equal(
      await codeOf(topics.createTopic({ topic: { name: "q.d" } }, opts)),
      "ok",
      "room again after a delete",
    );
  });
});
