import assert from "node:assert/strict";
import { test } from "node:test";
import { InProcessCluster } from "../support/in-process-cluster.js";

// The cluster layer in one process (test/support/in-process-cluster.ts): ClusterNode, its real stores
// over a crash-faithful disk, the client services, forwarding; only sockets are left out.

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "eu-1", region: "eu" },
  { id: "us-0", region: "us" },
];
const body = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function readAll(
  cluster: InProcessCluster,
  at: string,
  topic: string,
  count: number,
): Promise<string[]> {
  const controller = new AbortController();
  const out: string[] = [];
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    for await (const r of cluster
      .clients(at)
      .consume.subscribe(
        { topic, start: { position: { case: "earliest", value: true } } },
        { signal: controller.signal },
      )) {
      if (r.message) out.push(text(r.message.body));
      if (out.length >= count) break;
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return out;
}

test("in process: a publish through any node is forwarded to the leader and read on every node", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 7 });
  try {
    await cluster.ready();
    await cluster
      .clients("eu-0")
      .topics.createTopic({ topic: { name: "orders", partitions: 1, replicationFactor: 3 } });
    const sent: string[] = [];
    for (const [i, at] of ["eu-0", "eu-1", "us-0", "eu-1", "us-0"].entries()) {
      const r = await cluster.clients(at).publish.publish({ topic: "orders", body: body(`m${i}`) });
      assert.equal(Number(r.offset), i, "offsets are assigned in commit order, without gaps");
      sent.push(`m${i}`);
    }
    for (const at of ["eu-0", "eu-1", "us-0"])
      assert.deepEqual(await readAll(cluster, at, "orders", 5), sent);
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});

test("in process: the partition leader loses power; no acknowledged message is lost", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 11 });
  try {
    await cluster.ready();
    await cluster
      .clients("eu-0")
      .topics.createTopic({ topic: { name: "t", partitions: 1, replicationFactor: 3 } });
    await cluster.ready();
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      await cluster.clients("us-0").publish.publish({ topic: "t", body: body(`a${i}`) });
      acked.push(`a${i}`);
    }
    const t = await cluster.clients("us-0").topics.getTopic({ name: "t" });
    const leader = t.topic!.partitionInfo[0]!.leaderNodeId;
    assert.ok(leader, "the partition has a leader");
    await cluster.crash(leader);
    const survivor = nodes.find((n) => n.id !== leader)!.id;
    for (let i = 20; i < 30; i++) {
      await cluster.clients(survivor).publish.publish({ topic: "t", body: body(`a${i}`) });
      acked.push(`a${i}`);
    }
    await cluster.startNode(leader);
    await cluster.ready();
    for (const n of nodes)
      assert.deepEqual(await readAll(cluster, n.id, "t", acked.length), acked, `on ${n.id}`);
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});
