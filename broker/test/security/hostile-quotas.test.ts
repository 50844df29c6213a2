import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { basicHeader } from "./hostile-client.js";
import { type LiveNode, startLiveNode } from "./live-node.js";

// Issue #19: no quotas on topics, partitions (up to 1024) or consumers, per cluster or per principal.

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (err) {
    const e = ConnectError.from(err);
    return `${Code[e.code]}: ${e.rawMessage}`;
  }
}

describe("hostile input: quotas on topics, partitions and consumers", () => {
  let node: LiveNode;
  const as = (user: string) => ({
    headers: { authorization: basicHeader(user, `${user}-password-1`) },
    timeoutMs: 15_000,
  });
  before(async () => {
    node = await startLiveNode({
      users: { ops: "ops-password-1", dev: "dev-password-1", eve: "eve-password-1" },
      config: {
        auth: { modes: ["basic"] },
        limits: {
          quotas: {
            maxTopics: 5,
            maxPartitionsPerTopic: 4,
            maxConsumersPerTopic: 2,
            maxTopicsPerPrincipal: 2,
            maxPartitionsPerPrincipal: 6,
            maxConsumersPerPrincipal: 3,
          },
        },
      },
    });
  });
  after(async () => node?.stop());

  test("per topic, per principal and per cluster, each with its code and the limit named", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${node.clientPort}` });
    const topics = createClient(TopicService, transport);
    const consume = createClient(ConsumeService, transport);
    const create = (user: string, name: string, partitions: number) =>
      refusal(topics.createTopic({ topic: { name, partitions } }, as(user)));

    assert.match(await create("ops", "q.wide", 5), /^InvalidArgument: .*maxPartitionsPerTopic/);
    assert.equal(await create("ops", "q.a", 4), "ok");
    assert.match(await create("ops", "q.b", 4), /^ResourceExhausted: user "ops" would hold 8 partitions/);
    assert.equal(await create("ops", "q.b", 2), "ok");
    assert.match(await create("ops", "q.c", 1), /^ResourceExhausted: user "ops" created 2 topics/);
    assert.equal(await create("dev", "q.c", 1), "ok", "another principal has its own quota");
    assert.equal(await create("dev", "q.d", 1), "ok");
    assert.match(await create("dev", "q.e", 1), /^ResourceExhausted: user "dev" created 2 topics/);

    for (const name of ["c1", "c2"])
      await consume.createConsumer({ config: { topic: "q.a", name } }, as("ops"));
    assert.match(
      await refusal(consume.createConsumer({ config: { topic: "q.a", name: "c3" } }, as("ops"))),
      /^ResourceExhausted: .*maxConsumersPerTopic/,
    );
    assert.match(
      await refusal(
        consume.createConsumer({ config: { topic: "q.a", name: "c1", maxDeliveries: 9 } }, as("ops")),
      ),
      /^AlreadyExists/,
      "an existing consumer is not counted again",
    );
    await topics.deleteTopic({ name: "q.d" }, as("dev"));
    assert.equal(await create("dev", "q.e", 1), "ok", "room again after a delete");
    assert.match(await create("ops", "q.x", 1), /^ResourceExhausted: user "ops" created 2 topics/);
    assert.equal(await create("eve", "q.f", 1), "ok");
    assert.equal(
      await create("eve", "q.g", 1),
      "ResourceExhausted: the cluster holds its limit of 5 topics (limits.quotas.maxTopics): delete some first",
    );
  });

  test("durable consumers per principal, over every topic", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${node.clientPort}` });
    const consume = createClient(ConsumeService, transport);
    const make = (user: string, topic: string, name: string) =>
      refusal(consume.createConsumer({ config: { topic, name } }, as(user)));
    // ops made c1 and c2 on q.a above: one more anywhere, then none.
    assert.equal(await make("ops", "q.b", "p1"), "ok");
    assert.match(
      await make("ops", "q.b", "p2"),
      /^ResourceExhausted: user "ops" created 3 durable consumers, the limit per user \(limits\.quotas\.maxConsumersPerPrincipal\)/,
    );
    assert.match(await make("ops", "q.b", "p1"), /^AlreadyExists/, "one it has is not counted again");
    assert.equal(await make("dev", "q.b", "p2"), "ok", "another principal has its own quota");
    await consume.deleteConsumer({ topic: "q.b", name: "p1" }, as("ops"));
    assert.equal(await make("ops", "q.b", "p3"), "ok", "room again after a delete");
  });
});
