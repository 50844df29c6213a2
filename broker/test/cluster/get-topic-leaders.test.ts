import assert from "node:assert/strict";
import { test } from "node:test";
import { InProcessCluster } from "../support/in-process-cluster.js";

// Issue 23's 6-node bench cell: GetTopic answered by a node with no replica of a partition showed an
// empty leader for it (only replicas run the group, so only they know its leader), and a client
// routing by GetTopic could not find the partition's leader. A node without a replica asks the
// replicas now and reports the leader one of them names.

const nodes = ["eu", "us", "ap"].flatMap((region) => [0, 1].map((i) => ({ id: `${region}-${i}`, region })));

test("GetTopic on a node with no replica of a partition names the partition's leader", async () => {
  const seed = 23;
  const cluster = await InProcessCluster.start({ nodes, seed });
  try {
    await cluster.ready();
    const topics = cluster.clients("eu-0").topics;
    await topics.createTopic({ topic: { name: "far", partitions: 4, replicationFactor: 3 } });
    await cluster.ready();
    let checked = 0;
    for (const { id } of nodes) {
      const info = (await cluster.clients(id).topics.getTopic({ name: "far" })).topic!.partitionInfo;
      for (const p of info) {
        if (p.replicaNodeIds.includes(id)) continue;
        // What a replica says is the reference: replicas run the group.
        const replica = p.replicaNodeIds[0]!;
        const fromReplica = (await cluster.clients(replica).topics.getTopic({ name: "far" })).topic!
          .partitionInfo[p.partition]!;
        assert.ok(fromReplica.leaderNodeId, `seed ${seed}: replica ${replica} knows the leader`);
        assert.equal(
          p.leaderNodeId,
          fromReplica.leaderNodeId,
          `seed ${seed}: ${id} (no replica of partition ${p.partition}) names its leader`,
        );
        assert.equal(p.leaderRegion, fromReplica.leaderRegion, `seed ${seed}: and the leader's region`);
        checked++;
      }
    }
    assert.ok(checked >= 4, `seed ${seed}: ${checked} partitions seen from a node with no replica`);
  } finally {
    await cluster.stop();
  }
});
