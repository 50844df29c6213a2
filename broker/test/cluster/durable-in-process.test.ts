// Durable consumers and deduplication across failovers, on the production cluster layer in one
// process (test/support/in-process-cluster.ts) on virtual time: ack time-outs, lingering dispatchers
// and commit flushes fire when the clock says, not when a busy machine gets round to them.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { deadLetterHeaders } from "../../src/cluster/consumers/consumer-hub.js";
import type { ConsumerConfigInput } from "../../src/engine/engine.js";
import { consumerOn } from "../support/clients.js";
import { InProcessCluster } from "../support/in-process-cluster.js";

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "us-0", region: "us" },
  { id: "ap-0", region: "ap" },
];
let cluster: InProcessCluster;

before(async () => {
  cluster = await InProcessCluster.start({
    nodes,
    seed: 23,
    config: {
      partitions: { dedupWindowMs: 120_000, dedupMaxIds: 100_000 },
      consumers: {
        ackTimeoutMs: 30_000,
        maxInFlight: 1000,
        readAhead: 256,
        readAheadBytes: 4194304,
        flushMs: 20,
        lingerMs: 3000,
      },
    },
  });
  await cluster.ready();
});

after(async () => {
  await cluster?.stop();
});

const text = (s: string) => new TextEncoder().encode(s);

async function createTopic(name: string, partitions: number) {
  await cluster.clients("eu-0").topics.createTopic({ topic: { name, partitions, replicationFactor: 3 } });
}

/** Publishes bodies `${prefix}${i}` through eu-0, a window of requests in flight. */
async function publishMany(name: string, count: number, prefix: string) {
  const c = cluster.clients("eu-0");
  for (let at = 0; at < count; at += 100)
    await Promise.all(
      Array.from({ length: Math.min(100, count - at) }, (_, k) =>
        c.publish.publish({ topic: name, body: text(`${prefix}${at + k}`) }),
      ),
    );
}

const consumerConfig = (topic: string, over: Partial<ConsumerConfigInput> = {}): ConsumerConfigInput => ({
  name: "billing",
  topic,
  start: { kind: "earliest" },
  ackTimeoutMs: 0,
  maxDeliveries: 0,
  deadLetterTopic: "",
  ...over,
});

const consumerAt = (id: string, config: ConsumerConfigInput) =>
  consumerOn(cluster.clients(id).consume, {}, config, cluster.waitTime);

async function consumerInfo(topic: string, name: string) {
  return (await cluster.clients("us-0").consume.getConsumer({ topic, name })).consumer;
}

test("a consumer dies mid-stream and resumes in another region: every message delivered, acked ones never again", async () => {
  await createTopic("orders", 3);
  await publishMany("orders", 300, "o");
  const first = consumerAt("eu-0", consumerConfig("orders"));
  first.send({ kind: "credit", credit: 60 });
  const got = await first.take(60, 10_000);
  assert.equal(got.length, 60, "credit bounds the first client");
  const acked = got.slice(0, 40);
  first.ackAll(acked);
  const ackedKeys = new Set(acked.map((d) => `${d.partition}/${d.offset}`));
  // The acks are committed once any node reports them.
  await cluster.eventually("acks committed", 10_000, async () => {
    const info = await consumerInfo("orders", "billing");
    const floors = Object.values(info?.ackFloor ?? {}).reduce((a, b) => a + Number(b), 0);
    const above = 40 - floors;
    return floors > 0 && above >= 0 && Number(info?.pending) === 300 - 40 ? true : undefined;
  });
  first.kill();

  const second = consumerAt("ap-0", consumerConfig("orders"));
  second.send({ kind: "credit", credit: 1000 });
  const rest = await second.take(260, 20_000);
  const keys = rest.map((d) => `${d.partition}/${d.offset}`);
  assert.equal(new Set(keys).size, keys.length, "no duplicates within one client");
  assert.deepEqual(
    keys.filter((k) => ackedKeys.has(k)),
    [],
    "an acknowledged message is never delivered again",
  );
  assert.equal(rest.length, 260, "every message not acknowledged arrives at the second client");
  const bodies = new Set([...acked, ...rest].map((d) => d.body));
  assert.equal(bodies.size, 300, "together: all 300 messages");
  for (const p of [0, 1, 2]) {
    const offs = rest.filter((d) => d.partition === p && d.count === 1).map((d) => d.offset);
    assert.deepEqual(
      offs,
      [...offs].sort((a, b) => a - b),
      `partition ${p} in order`,
    );
  }
  second.ackAll(rest);
  await cluster.eventually("all acknowledged", 10_000, async () => {
    const info = await consumerInfo("orders", "billing");
    return Number(info?.pending) === 0 ? info : undefined;
  });
  second.kill();
});

test("unacknowledged messages come back after the ack timeout and go to the dead-letter topic", async () => {
  await createTopic("payments", 1);
  // Dead letters never create their topic (issue #19): it must exist.
  await createTopic("payments.dlq", 1);
  await publishMany("payments", 1, "p");
  const s = consumerAt(
    "us-0",
    consumerConfig("payments", { name: "risky", ackTimeoutMs: 300, maxDeliveries: 2 }),
  );
  s.send({ kind: "credit", credit: 10 });
  const startedAt = cluster.now();
  const deliveries = await s.take(2, 10_000);
  assert.deepEqual(
    deliveries.map((d) => [d.offset, d.count]),
    [
      [0, 1],
      [0, 2],
    ],
  );
  // Redelivered once the ack time-out passed (300 ms, checked every 75 ms), not before.
  const redeliveredAfter = cluster.now() - startedAt;
  assert.ok(redeliveredAfter >= 300 && redeliveredAfter < 1_000, `redelivered after ${redeliveredAfter} ms`);
  const dead = await cluster.eventually("the dead letter", 15_000, async () => {
    const [body] = await cluster.readAll("ap-0", "payments.dlq", 1);
    return body;
  });
  assert.equal(dead, "p0");
  const ac = new AbortController();
  for await (const r of cluster
    .clients("ap-0")
    .consume.subscribe(
      { topic: "payments.dlq", start: { position: { case: "earliest", value: true } } },
      { signal: ac.signal },
    )) {
    assert.equal(r.message?.headers[deadLetterHeaders.topic], "payments");
    assert.equal(r.message?.headers[deadLetterHeaders.deliveries], "2");
    break;
  }
  ac.abort();
  assert.equal((await s.take(1, 500)).length, 0, "not delivered a third time");
  s.kill();
});

test("a publish retried with the same message id after a leader failover is stored once", async () => {
  await createTopic("ledger", 1);
  await cluster.ready();
  const c0 = cluster.clients("eu-0");
  const first = await c0.publish.publish({ topic: "ledger", body: text("debit 10"), messageId: "tx-1" });
  assert.equal(first.duplicate, false);
  const t = await c0.topics.getTopic({ name: "ledger" });
  const leader = t.topic!.partitionInfo[0]!.leaderNodeId;
  await cluster.crash(leader);
  const survivor = nodes.find((n) => n.id !== leader)!.id;
  const c = cluster.clients(survivor);
  const retry = await cluster.eventually("publish after failover", 20_000, () =>
    c.publish.publish({ topic: "ledger", body: text("debit 10"), messageId: "tx-1" }),
  );
  assert.equal(retry.duplicate, true, "the retry is recognised");
  assert.equal(retry.offset, first.offset, "and answered with the original offset");
  const next = await c.publish.publish({ topic: "ledger", body: text("debit 20"), messageId: "tx-2" });
  assert.equal(next.duplicate, false);
  assert.equal(next.offset, first.offset + 1n, "nothing was appended for the retry");
  await cluster.startNode(leader);
  await cluster.ready();
  // The restarted node rebuilt its window: a retry there is recognised too.
  const c2 = cluster.clients(leader);
  const late = await cluster.eventually("publish at the restarted node", 20_000, () =>
    c2.publish.publish({ topic: "ledger", body: text("debit 20"), messageId: "tx-2" }),
  );
  assert.deepEqual([late.duplicate, late.offset], [true, next.offset]);
});
