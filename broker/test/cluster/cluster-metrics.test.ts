import assert from "node:assert/strict";
import { test } from "node:test";
import { InProcessCluster } from "../support/in-process-cluster.js";

// ClusterService.GetClusterMetrics (the web console's throughput and latency plots): every node's own
// counters and histograms, gathered over the peer port by the node asked; a node that cannot answer
// is named with the reason, and the rest are still reported.

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "us-0", region: "us" },
  { id: "ap-0", region: "ap" },
];
const body = (s: string) => new TextEncoder().encode(s);

test("GetClusterMetrics: each node's own counts, their sum is what was published; a crashed node is named, not hidden", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 24 });
  try {
    await cluster.ready();
    const admin = cluster.clients("us-0");
    await admin.topics.createTopic({ topic: { name: "m", partitions: 1, replicationFactor: 3 } });
    await cluster.ready();
    const published = 12;
    let bytes = 0;
    for (let i = 0; i < published; i++) {
      const b = body(`x${i}`);
      bytes += b.length;
      await cluster.clients(nodes[i % 3]!.id).publish.publish({ topic: "m", body: b });
    }
    const all = await admin.cluster.getClusterMetrics({});
    assert.deepEqual(all.nodes.map((n) => [n.nodeId, n.region]).sort(), [
      ["ap-0", "ap"],
      ["eu-0", "eu"],
      ["us-0", "us"],
    ]);
    assert.deepEqual(all.unavailable, []);
    assert.equal(all.servedBy?.nodeId, "us-0");
    const sum = (f: (n: (typeof all.nodes)[number]) => bigint) => all.nodes.reduce((s, n) => s + f(n), 0n);
    assert.equal(
      sum((n) => n.publishedMessages),
      BigInt(published),
      "each commit counted once, where it was served",
    );
    assert.equal(
      sum((n) => n.publishCommit?.count ?? 0n),
      BigInt(published),
      "one latency per publish",
    );
    assert.equal(
      sum((n) => n.publishedBytes),
      BigInt(bytes),
    );
    for (const n of all.nodes) {
      const h = n.publishCommit!;
      assert.ok(h.upperBoundsSeconds.length > 0 && h.upperBoundsSeconds.length === h.cumulativeCounts.length);
      assert.ok(
        h.cumulativeCounts.every((c, i) => i === 0 || c >= h.cumulativeCounts[i - 1]!),
        "cumulative",
      );
      assert.ok(n.sampledAtMicros > 0n);
    }
    const one = await admin.cluster.getClusterMetrics({ nodeIds: ["ap-0"] });
    assert.deepEqual(
      one.nodes.map((n) => n.nodeId),
      ["ap-0"],
    );
    await assert.rejects(admin.cluster.getClusterMetrics({ nodeIds: ["nope-9"] }), /no node nope-9/);
    await cluster.crash("ap-0");
    const without = await admin.cluster.getClusterMetrics({});
    assert.deepEqual(without.nodes.map((n) => n.nodeId).sort(), ["eu-0", "us-0"]);
    assert.deepEqual(
      without.unavailable.map((u) => [u.nodeId, u.region]),
      [["ap-0", "ap"]],
    );
    assert.match(without.unavailable[0]!.reason, /ap-0/);
  } finally {
    await cluster.stop();
  }
});
