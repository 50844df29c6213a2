// Durable consumers, deduplication and retention with real broker processes in three regions.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { deadLetterHeaders } from "../../src/cluster/consumers/consumer-hub.js";
import type { ConsumerConfigInput } from "../../src/engine/engine.js";
import { remoteConsumer, v1Clients } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"], {
    raft: { keepLogEntries: 100 },
    config: {
      partitions: { retentionCheckMs: 200, dedupWindowMs: 120_000, dedupMaxIds: 100_000 },
      consumers: {
        ackTimeoutMs: 30_000,
        maxInFlight: 1000,
        readAhead: 256,
        readAheadBytes: 4194304,
        flushMs: 20,
        lingerMs: 3000,
      },
      storage: { memtableBudgetBytes: 8 * 1024 * 1024 },
    },
  });
});

after(async () => {
  await cluster?.stop();
});

const clientsAt = (i: number) => v1Clients(cluster.nodes[i]!.clientPort);
const text = (s: string) => new TextEncoder().encode(s);

async function createTopic(name: string, partitions: number, retention?: Record<string, bigint | boolean>) {
  const c = clientsAt(0);
  await c.topics.createTopic(
    { topic: { name, partitions, replicationFactor: 3, ...(retention ? { retention } : {}) } },
    { headers: c.headers },
  );
}

/** Publishes bodies `${prefix}${i}` from one node, a window of requests in flight. */
async function publishMany(name: string, count: number, prefix: string, body?: (i: number) => Uint8Array) {
  const c = clientsAt(0);
  for (let at = 0; at < count; at += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - at) }, (_, k) =>
        c.publish.publish(
          { topic: name, body: body ? body(at + k) : text(`${prefix}${at + k}`) },
          { headers: c.headers },
        ),
      ),
    );
  }
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

test("a consumer dies mid-stream and resumes in another region: every message delivered, acked ones never again", async () => {
  await createTopic("orders", 3);
  await publishMany("orders", 300, "o");
  const first = remoteConsumer(cluster.nodes[0]!.clientPort, consumerConfig("orders"));
  first.send({ kind: "credit", credit: 60 });
  const got = await first.take(60, 10_000);
  assert.equal(got.length, 60, "credit bounds the first client");
  const acked = got.slice(0, 40);
  first.ackAll(acked);
  const ackedKeys = new Set(acked.map((d) => `${d.partition}/${d.offset}`));
  // The acks are committed once any node reports them.
  await eventually("acks committed", 10_000, async () => {
    const c = clientsAt(1);
    const info = (await c.consume.getConsumer({ topic: "orders", name: "billing" }, { headers: c.headers }))
      .consumer;
    const floors = Object.values(info?.ackFloor ?? {}).reduce((a, b) => a + Number(b), 0);
    const above = 40 - floors;
    return floors > 0 && above >= 0 && Number(info?.pending) === 300 - 40 ? true : undefined;
  });
  first.kill();

  const second = remoteConsumer(cluster.nodes[2]!.clientPort, consumerConfig("orders"));
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
  await eventually("all acknowledged", 10_000, async () => {
    const c = clientsAt(1);
    const info = (await c.consume.getConsumer({ topic: "orders", name: "billing" }, { headers: c.headers }))
      .consumer;
    return Number(info?.pending) === 0 ? info : undefined;
  });
  second.kill();
});

test("unacknowledged messages come back after the ack timeout and go to the dead-letter topic", async () => {
  await createTopic("payments", 1);
  // Dead letters never create their topic (issue #19): it must exist.
  await createTopic("payments.dlq", 1);
  await publishMany("payments", 1, "p");
  const s = remoteConsumer(
    cluster.nodes[1]!.clientPort,
    consumerConfig("payments", { name: "risky", ackTimeoutMs: 300, maxDeliveries: 2 }),
  );
  s.send({ kind: "credit", credit: 10 });
  const deliveries = await s.take(2, 10_000);
  assert.deepEqual(
    deliveries.map((d) => [d.offset, d.count]),
    [
      [0, 1],
      [0, 2],
    ],
  );
  const c = clientsAt(2);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 15_000);
  let dead: { body: string; headers: Record<string, string> } | undefined;
  for (;;) {
    try {
      for await (const r of c.consume.subscribe(
        { topic: "payments.dlq", start: { position: { case: "earliest", value: true } } },
        { headers: c.headers, signal: ac.signal },
      )) {
        dead = { body: new TextDecoder().decode(r.message!.body), headers: r.message!.headers };
        break;
      }
      break;
    } catch (err) {
      if (ac.signal.aborted) throw err;
      await new Promise((r) => setTimeout(r, 200)); // the first dead letter is not committed yet
    }
  }
  ac.abort();
  assert.equal(dead?.body, "p0");
  assert.equal(dead?.headers[deadLetterHeaders.topic], "payments");
  assert.equal(dead?.headers[deadLetterHeaders.deliveries], "2");
  assert.equal((await s.take(1, 500)).length, 0, "not delivered a third time");
  s.kill();
});

test("retention by count, bytes and age applies on every replica, and the disk footprint shrinks", async () => {
  // Random bodies: RocksDB compresses, and the footprint must reflect real payloads.
  const body = () => new Uint8Array(randomBytes(10_000));
  const started = performance.now();
  await createTopic("metrics", 1);
  await createTopic("logs", 1, { maxBytes: 100_000n, keepUnacknowledged: false });
  await createTopic("events", 1, { maxAgeMs: 1_500n, keepUnacknowledged: false });
  await publishMany("metrics", 1500, "", body);
  await publishMany("logs", 50, "", body);
  await publishMany("events", 20, "e");
  const du = () =>
    Number(
      execFileSync("du", ["-sb", ...cluster.nodes.map((n) => n.dataDir)])
        .toString()
        .split("\n")
        .filter(Boolean)
        .reduce((s, l) => s + Number(l.split("\t")[0]), 0),
    );
  const before = du();
  console.log(`published in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // Count: set on an existing topic, so the space its messages took must come back.
  const admin = clientsAt(0);
  await admin.topics.updateTopic(
    { name: "metrics", retention: { maxMessages: 100n, keepUnacknowledged: false } },
    { headers: admin.headers },
  );
  const replicaStates = async (name: string) =>
    Promise.all(
      cluster.nodes.map(async (_, i) => {
        const c = clientsAt(i);
        const t = await c.topics.getTopic({ name }, { headers: c.headers });
        return t.topic!.partitionInfo[0]!;
      }),
    );
  await eventually("count limit on every replica", 20_000, async () => {
    const s = await replicaStates("metrics");
    return s.every((p) => p.firstOffset === 1400n && p.nextOffset === 1500n) ? s : undefined;
  });
  await eventually("byte limit on every replica", 20_000, async () => {
    const s = await replicaStates("logs");
    return s.every((p) => p.retainedBytes <= 100_000n && p.retainedBytes >= 90_000n) ? s : undefined;
  });
  await eventually("age limit on every replica", 20_000, async () => {
    const s = await replicaStates("events");
    return s.every((p) => p.firstOffset === 20n) ? s : undefined;
  });
  // Readers see what is left, from the first retained offset.
  const c = clientsAt(1);
  const ac = new AbortController();
  let firstSeen: bigint | undefined;
  try {
    for await (const r of c.consume.subscribe(
      { topic: "metrics", start: { position: { case: "earliest", value: true } } },
      { headers: c.headers, signal: ac.signal },
    )) {
      firstSeen = r.message!.offset;
      ac.abort();
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  assert.equal(firstSeen, 1400n);

  const shrunk = await eventually(
    "disk space reclaimed",
    30_000,
    async () => {
      // RocksDB drops range-deleted data when it compacts, which writes drive: the log moves on.
      await publishMany("metrics", 50, "", body);
      const now = du();
      if (now >= before - 20_000_000) throw new Error(`(${before} bytes before, ${now} now)`);
      return now;
    },
    1000,
  );
  console.log(
    `data dirs: ${(before / 1e6).toFixed(1)} MB with 1500+50 messages of 10 kB on 3 replicas, ${(shrunk / 1e6).toFixed(1)} MB after retention`,
  );
});

test("a publish retried with the same message id after a leader failover is stored once", async () => {
  await createTopic("ledger", 1);
  const c0 = clientsAt(0);
  const first = await c0.publish.publish(
    { topic: "ledger", body: text("debit 10"), messageId: "tx-1" },
    { headers: c0.headers },
  );
  assert.equal(first.duplicate, false);
  const t = await c0.topics.getTopic({ name: "ledger" }, { headers: c0.headers });
  const leaderId = t.topic!.partitionInfo[0]!.leaderNodeId;
  const leader = cluster.nodes.find((n) => n.id === leaderId)!;
  await cluster.kill(leader);
  const survivor = cluster.nodes.find((n) => n.child)!;
  const c = v1Clients(survivor.clientPort);
  const retry = await eventually("publish after failover", 20_000, () =>
    c.publish.publish({ topic: "ledger", body: text("debit 10"), messageId: "tx-1" }, { headers: c.headers }),
  );
  assert.equal(retry.duplicate, true, "the retry is recognised");
  assert.equal(retry.offset, first.offset, "and answered with the original offset");
  const next = await c.publish.publish(
    { topic: "ledger", body: text("debit 20"), messageId: "tx-2" },
    { headers: c.headers },
  );
  assert.equal(next.duplicate, false);
  assert.equal(next.offset, first.offset + 1n, "nothing was appended for the retry");
  cluster.launch(leader);
  await cluster.waitReady();
  // The restarted node rebuilt its window from its log: a retry there is recognised too.
  const c2 = v1Clients(leader.clientPort);
  const late = await eventually("publish at the restarted node", 20_000, () =>
    c2.publish.publish(
      { topic: "ledger", body: text("debit 20"), messageId: "tx-2" },
      { headers: c2.headers },
    ),
  );
  assert.deepEqual([late.duplicate, late.offset], [true, next.offset]);
});
