// Retention with real broker processes in three regions: what it removes on every replica, and the
// disk footprint of real RocksDB shrinking. Durable consumers and deduplication across failovers run
// in process (durable-in-process.test.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { v1Clients } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"], {
    raft: { keepLogEntries: 100 },
    config: {
      partitions: { retentionCheckMs: 200, dedupWindowMs: 120_000, dedupMaxIds: 100_000 },
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
