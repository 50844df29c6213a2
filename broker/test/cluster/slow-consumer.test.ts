// A slow durable consumer and a slow subscriber while 1 GiB is published: the broker's memory must
// not follow the backlog. GEOBROKER_SLOW_CONSUMER_MB changes the volume (default 1024).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { brokerEnv, glibcMallocEnv, jemallocPath } from "../../src/local/allocator.js";
import { remoteConsumer, v1Clients } from "../support/clients.js";
import { ProcessCluster } from "../support/process-cluster.js";

const totalMb = Number(process.env.GEOBROKER_SLOW_CONSUMER_MB ?? "1024");
const messageBytes = 1024 * 1024 - 1024; // under the 1 MiB default message limit
/**
 * The stated bounds. After a quarter of the volume the fixed-size structures are full: the Raft
 * log window (2 x keepLogEntries entries of up to 1 MiB: 100 MiB here), memtables (2 x 16 MiB),
 * consumer read-ahead (4 MiB) and read batches (1 MiB). From there resident memory may grow at
 * most rssGrowthLimitMb, and over the second half (512 MiB here) at most rssSecondHalfLimitMb (a quarter):
 * memory must not follow the volume or the backlog. The bounds hold with jemalloc and with glibc's
 * malloc under the settings brokerEnv gives it (src/local/allocator.ts; measured in
 * docs/decisions/0025-memory-allocator.md). GEOBROKER_ALLOCATOR=glibc runs this without jemalloc
 * on a machine that has it.
 */
const rssGrowthLimitMb = 256;
const rssSecondHalfLimitMb = 128;

let cluster: ProcessCluster;

before(async () => {
  // One node: what is measured is the serving path's memory, not replication.
  cluster = await ProcessCluster.start(["eu"], {
    raft: { keepLogEntries: 50 },
    config: {
      topicDefaults: {
        partitions: 1,
        replicationFactor: 1,
        retention: { maxAgeMs: 0, maxBytes: 256 * 1024 * 1024, maxMessages: 0, keepUnacknowledged: false },
      },
      partitions: { retentionCheckMs: 500, dedupWindowMs: 120_000, dedupMaxIds: 100_000 },
    },
  });
});

after(async () => {
  await cluster?.stop();
});

const rssMb = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
};

const allocator = jemallocPath() ? "jemalloc" : "glibc malloc";

test("broker processes run with jemalloc when it is installed, and with the glibc malloc settings", () => {
  const pid = cluster.nodes[0]!.child!.pid!;
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
  if (jemallocPath()) assert.match(maps, /libjemalloc/, "the broker process has jemalloc loaded");
  else assert.doesNotMatch(maps, /libjemalloc/, "no jemalloc here: the broker runs on glibc malloc");
  const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  const expected = brokerEnv();
  for (const name of Object.keys(glibcMallocEnv))
    assert.ok(
      environ.includes(`${name}=${expected[name]}`),
      `the broker process has ${name}=${expected[name]}`,
    );
});

test(`${totalMb} MiB through the broker with a slow consumer and a slow subscriber: memory stays bounded`, async () => {
  const node = cluster.nodes[0]!;
  const c = v1Clients(node.clientPort);
  await c.topics.createTopic({ topic: { name: "firehose" } }, { headers: c.headers });
  const pid = node.child!.pid!;

  // Slow readers: a durable consumer taking 5 messages every 200 ms, a subscriber reading one
  // message every 100 ms. Both fall far behind the publisher.
  const consumer = remoteConsumer(node.clientPort, {
    name: "slow",
    topic: "firehose",
    start: { kind: "earliest" },
    ackTimeoutMs: 0,
    maxDeliveries: 0,
    deadLetterTopic: "",
  });
  let consumed = 0;
  let stop = false;
  const consuming = (async () => {
    while (!stop) {
      consumer.send({ kind: "credit", credit: 5 });
      const got = await consumer.take(5, 1000);
      consumer.ackAll(got);
      consumed += got.length;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const sub = new AbortController();
  let subscribed = 0;
  const subscribing = (async () => {
    try {
      for await (const _ of c.consume.subscribe(
        { topic: "firehose", start: { position: { case: "earliest", value: true } } },
        { headers: c.headers, signal: sub.signal },
      )) {
        subscribed++;
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch {
      // aborted at the end
    }
  })();

  const body = new Uint8Array(randomBytes(messageBytes));
  const total = Math.ceil((totalMb * 1024 * 1024) / messageBytes);
  const window = 16;
  let sent = 0;
  let acked = 0;
  let baseline = 0;
  let halfway = 0;
  let peak = 0;
  const started = performance.now();
  async function* requests() {
    while (sent < total) {
      while (sent - acked >= window) await new Promise((r) => setTimeout(r, 1));
      yield { sequence: BigInt(sent), request: { topic: "firehose", body } };
      sent++;
    }
  }
  for await (const r of c.publish.publishStream(requests(), { headers: c.headers })) {
    if (r.result.case === "error") assert.fail(`publish failed: ${r.result.value.message}`);
    acked++;
    if (acked === Math.ceil(total / 4)) baseline = rssMb(pid); // warm: Raft window, memtables, caches
    if (acked === Math.ceil(total / 2)) halfway = rssMb(pid);
    if (acked % 32 === 0) {
      peak = Math.max(peak, rssMb(pid));
      if (acked % 256 === 0)
        console.log(
          `${acked}/${total} MiB published, broker RSS ${rssMb(pid).toFixed(0)} MiB (peak ${peak.toFixed(0)}), consumer ${consumed}, subscriber ${subscribed}`,
        );
    }
    if (acked === total) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const end = rssMb(pid);
  stop = true;
  sub.abort();
  consumer.kill();
  await Promise.all([consuming, subscribing]);
  console.log(
    `${totalMb} MiB in ${seconds.toFixed(1)} s (${(totalMb / seconds).toFixed(1)} MiB/s) on ${allocator}; broker RSS ${baseline.toFixed(0)} MiB at 1/4, ${halfway.toFixed(0)} MiB at 1/2, ${end.toFixed(0)} MiB at the end, peak ${peak.toFixed(0)} MiB; the slow readers took ${consumed} and ${subscribed} messages`,
  );
  assert.ok(consumed > 0 && subscribed > 0, "both readers were served throughout");
  assert.ok(consumed < total / 4 && subscribed < total / 4, "and were far behind: a real backlog");
  assert.ok(
    peak - baseline < rssGrowthLimitMb,
    `broker RSS grew ${(peak - baseline).toFixed(0)} MiB over its warm level; the bound is ${rssGrowthLimitMb} MiB`,
  );
  assert.ok(
    end - halfway < rssSecondHalfLimitMb,
    `broker RSS grew ${(end - halfway).toFixed(0)} MiB over the second half; the bound is ${rssSecondHalfLimitMb} MiB`,
  );
});
