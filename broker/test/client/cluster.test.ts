import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { GeoBrokerClient } from "../../src/client/client.js";
import { connect } from "../../src/client/node.js";
import type { StatusEvent } from "../../src/client/status.js";
import { ProcessCluster, testUser } from "../support/process-cluster.js";

// The library against real nodes: a node is killed mid-stream (the one every partition's leader and
// the subscriber's reads are on), and the application sees only latency.

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"]);
});

const clients: GeoBrokerClient[] = [];

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await cluster?.stop();
});

function clientIn(region: string): GeoBrokerClient {
  return connect({
    endpoints: cluster.nodes.map((n) => `127.0.0.1:${n.clientPort}`),
    region,
    auth: { basic: { user: testUser.name, password: testUser.password } },
    retry: { timeoutMs: 60_000 },
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a node killed mid-stream: every publish acknowledged once, the subscriber gets each exactly once, the consumer acks all", async () => {
  const total = 600;
  const topic = "client-kill";
  const producerClient = clientIn("eu");
  const subscriberClient = clientIn("us");
  const consumerClient = clientIn("ap");
  clients.push(producerClient, subscriberClient, consumerClient);
  const events: StatusEvent[] = [];
  subscriberClient.onStatus((e) => events.push(e));
  producerClient.onStatus((e) => events.push(e));
  // Leaders in us, where the subscriber reads: killing us-0 takes both away at once.
  await producerClient.admin.createTopic({
    name: topic,
    partitions: 2,
    replicationFactor: 3,
    homeRegion: "us",
  });
  for (const c of [producerClient, subscriberClient, consumerClient]) await c.admin.clusterInfo();

  const received: string[] = [];
  const sub = subscriberClient.subscribe({ topic, start: "earliest" });
  after(() => sub.close());
  const reading = (async () => {
    for await (const m of sub) {
      received.push(m.text());
      if (received.length === total) break;
    }
  })();
  const consumed = new Map<string, number>();
  // At-least-once: an ack the killed node took but did not replicate is redelivered after the ack
  // timeout, so the consumer acks whatever comes until the cluster's ack floor covers everything.
  const consumer = consumerClient.consumer({
    topic,
    name: "kill-test",
    start: "earliest",
    maxAckPending: 64,
    ackTimeoutMs: 2000,
  });
  const consuming = (async () => {
    for await (const m of consumer) {
      consumed.set(m.text(), (consumed.get(m.text()) ?? 0) + 1);
      m.ack();
    }
  })();

  const producer = producerClient.producer({ maxInFlight: 50 });
  const acked: { body: string; partition: number; offset: bigint }[] = [];
  const results: Promise<void>[] = [];
  const us = cluster.node("us-0");
  let killed = false;
  for (let i = 0; i < total; i++) {
    const body = `m${i}`;
    const q = await producer.queue({ topic, key: `k${i % 7}`, body });
    results.push(q.result.then((r) => void acked.push({ body, partition: r.partition, offset: r.offset })));
    if (i === 200) {
      await until("200 acknowledged", () => acked.length >= 150);
      await cluster.kill(us);
      killed = true;
    }
  }
  await Promise.all(results);
  assert.ok(killed);
  await producer.close();
  assert.equal(acked.length, total, "every publish was acknowledged (the library retried through the kill)");

  // Each message was appended once: the retries carried their message ids.
  const positions = new Set(acked.map((a) => `${a.partition}/${a.offset}`));
  assert.equal(positions.size, total, "no two publishes share an offset");

  await Promise.race([reading, until("the subscriber to finish", () => false, 60_000)]).catch((e) => {
    throw new Error(`${e.message}: got ${received.length} of ${total}`);
  });
  const counts = new Map<string, number>();
  for (const b of received) counts.set(b, (counts.get(b) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([b]) => b);
  assert.deepEqual(twice, [], "the subscriber got no message twice");
  const missing = acked.map((a) => a.body).filter((b) => !counts.has(b));
  assert.deepEqual(missing, [], "the subscriber got every acknowledged message");
  assert.ok(
    events.some((e) => e.type === "reconnecting"),
    `a reconnect was reported: ${JSON.stringify(events.map((e) => e.type))}`,
  );

  let floors = 0;
  const deadline = Date.now() + 60_000;
  while (floors < total && Date.now() < deadline) {
    const info = await consumerClient.admin.getConsumer(topic, "kill-test");
    floors = Object.values(info?.ackFloor ?? {}).reduce((sum, f) => sum + Number(f), 0);
    if (floors < total) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(
    floors,
    total,
    `every message is acknowledged in the cluster (consumed ${consumed.size} distinct)`,
  );
  assert.equal(consumed.size, total, "the consumer saw every message");
  await consumer.close();
  await consuming;
});
