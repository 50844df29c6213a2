import assert from "node:assert/strict";
import { test } from "node:test";
import { InProcessCluster } from "../support/in-process-cluster.js";

// Issue 23: the leader fsynced twice per message at one publish in flight, once for the entry and
// once more for a hard state that only moved the commit index. etcd's rule (MustSync: sync only for
// entries, a snapshot, a new term or vote) leaves one fsync per commit on every replica.

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "us-0", region: "us" },
  { id: "ap-0", region: "ap" },
];

test("one fsync per committed message on each replica, at one publish in flight", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 23 });
  try {
    await cluster.ready();
    const admin = cluster.clients("eu-0");
    await admin.topics.createTopic({ topic: { name: "t", partitions: 1, replicationFactor: 3 } });
    await cluster.ready();
    const leader = (await admin.topics.getTopic({ name: "t" })).topic!.partitionInfo[0]!.leaderNodeId;
    assert.ok(leader, "the partition has a leader");
    const publish = cluster.clients(leader).publish;
    await publish.publish({ topic: "t", body: new Uint8Array(8) });
    const before = nodes.map((n) => cluster.diskSyncs(n.id));
    const messages = 60;
    for (let i = 0; i < messages; i++) await publish.publish({ topic: "t", body: new Uint8Array(8) });
    const perMessage = nodes.map((n, i) => (cluster.diskSyncs(n.id) - before[i]!) / messages);
    const leaderAt = nodes.findIndex((n) => n.id === leader);
    // Each message is one Raft entry committed on its own (nothing else in flight): one synced write
    // of it per replica. The slack covers the metadata group's own writes during the run.
    assert.ok(perMessage[leaderAt]! <= 1.1, `leader ${leader}: ${perMessage[leaderAt]} fsyncs per message`);
    for (const [i, n] of nodes.entries())
      assert.ok(perMessage[i]! <= 1.1, `${n.id}: ${perMessage[i]} fsyncs per message (${perMessage})`);
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});
