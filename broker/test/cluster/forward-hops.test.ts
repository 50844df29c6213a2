import assert from "node:assert/strict";
import { test } from "node:test";
import { neverReachedTarget } from "../../src/cluster/forwarding/forwarder.js";
import { maxForwardHops } from "../../src/cluster/node-context.js";
import { errorDetailsOf } from "../../src/engine/errors.js";
import { InProcessCluster } from "../support/in-process-cluster.js";

// A publish forwarded as far as the hop limit, reaching a node that does not lead the partition
// (leadership moved while it travelled), was refused as plain UNAVAILABLE: the node that forwarded it
// gave up at once, and a client saw "leader ... moved while the publish was forwarded" in the
// in-process tests under load. Nothing was appended on that path, so the refusal is retry-safe:
// the forwarding node waits for the new leader and sends again (forward-retry.ts).

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "us-0", region: "us" },
  { id: "ap-0", region: "ap" },
];

test("a publish refused at the hop limit on a non-leader is retry-safe, so the forwarder tries the new leader", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 31 });
  try {
    await cluster.ready();
    const topics = cluster.clients("eu-0").topics;
    await topics.createTopic({ topic: { name: "hops", partitions: 1, replicationFactor: 3 } });
    await cluster.ready();
    const leader = (await topics.getTopic({ name: "hops" })).topic!.partitionInfo[0]!.leaderNodeId;
    const other = nodes.find((n) => n.id !== leader)!.id;
    const err = await cluster
      .node(other)
      .publish(
        { topic: "hops", body: new Uint8Array([1]) },
        { signal: AbortSignal.timeout(5000), hops: maxForwardHops },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err, "refused: it may not be forwarded again");
    assert.equal(errorDetailsOf(err).retrySafe, true, String(err));
    assert.ok(neverReachedTarget(err), "the forwarding node retries it");
  } finally {
    await cluster.stop();
  }
});
