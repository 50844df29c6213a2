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
    for (const at of ["eu-0", "eu-1", "us-0"]) assert.deepEqual(await cluster.readAll(at, "orders", 5), sent);
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
      assert.deepEqual(await cluster.readAll(n.id, "t", acked.length), acked, `on ${n.id}`);
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});

test("in process: a node that missed more than the kept log catches up from a snapshot of the partition", async () => {
  // Keep only 20 applied entries: the leader compacts past what the stopped node has.
  const cluster = await InProcessCluster.start({ nodes, seed: 3, config: { raft: { keepLogEntries: 20 } } });
  try {
    await cluster.ready();
    const writer = cluster.clients("eu-0").broker;
    await writer.publish({ topic: "snap", body: body("first") });
    await cluster.crash("us-0");
    const sent = ["first"];
    for (let i = 0; i < 300; i++) {
      await writer.publish({ topic: "snap", body: body(`m${i}`) });
      sent.push(`m${i}`);
    }
    // Compaction runs every 10 ticks (100 ms here); give it a moment to drop what us-0 would need.
    await cluster.sleep(300);
    const before = cluster.snapshotsDelivered;
    await cluster.startNode("us-0");
    await cluster.ready();
    assert.deepEqual(await cluster.readAll("us-0", "snap", sent.length), sent);
    assert.ok(cluster.snapshotsDelivered > before, "the catch-up went through a snapshot, not the log");
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});

// Found while reproducing issue 17's live-burst scenario: the first publishes to a new topic, sent
// at once through a node that does not lead the metadata group, were forwarded as plain CreateTopic
// calls, and every one but the first failed ALREADY_EXISTS.
test("in process: concurrent first publishes to a new topic through every node all succeed", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 5 });
  try {
    await cluster.ready();
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        cluster
          .clients(nodes[i % nodes.length]!.id)
          .broker.publish({ topic: `fresh.t${i % 3}`, body: body(`m${i}`) }),
      ),
    );
    const failed = results.filter((r) => r.status === "rejected").map((r) => String(r.reason));
    assert.deepEqual(failed, [], "no publish to a topic another publish was creating fails");
  } finally {
    await cluster.stop();
  }
});

test("in process: a node whose disk is lost rejoins as a learner, votes nowhere until re-admitted, and nothing acknowledged is lost", async () => {
  const cluster = await InProcessCluster.start({ nodes, seed: 9 });
  try {
    await cluster.ready();
    const writer = cluster.clients("eu-0").broker;
    const sent: string[] = [];
    const publish = async (text: string) => {
      await writer.publish({ topic: "amnesia", body: body(text) });
      sent.push(text);
    };
    for (let i = 0; i < 20; i++) await publish(`before-${i}`);
    await cluster.wipe("us-0");
    for (let i = 0; i < 20; i++) await publish(`while-down-${i}`);
    const from = cluster.lines("us-0").length;
    await cluster.startNode("us-0");
    const lines = () => cluster.lines("us-0").slice(from);
    // Re-admitted to the metadata group (0) and to the topic's group (1): removed, added back as a
    // learner under the new incarnation, promoted.
    await cluster.until("re-admission to groups 0 and 1", 20_000, () =>
      [0, 1].every((g) => lines().some((x) => x.includes(`was admitted to group ${g} as incarnation`))),
    );
    for (let i = 0; i < 20; i++) await publish(`after-${i}`);
    const m = lines();
    assert.ok(
      m.some((x) => /lost its state and rejoins its groups as a learner/.test(x)),
      "it says it lost its state",
    );
    for (const g of [0, 1]) {
      const refused = m.findIndex((x) => x.includes(`does not vote or campaign in group ${g}:`));
      const admitted = m.findIndex((x) => x.includes(`was admitted to group ${g} as incarnation`));
      assert.ok(refused >= 0 && refused < admitted, `group ${g}: it knew it may not vote, until admitted`);
      const voted = m.findIndex((x) => x.includes("votes for") && x.includes(`in group ${g} `));
      assert.ok(voted < 0 || voted > admitted, `group ${g}: it voted before it was re-admitted: ${m[voted]}`);
    }
    // Everything acknowledged, read back from the replica that lost its disk; then, with it holding
    // a copy, the other two may lose power in turn without losing an acknowledged message.
    assert.deepEqual(await cluster.readAll("us-0", "amnesia", sent.length), sent);
    await cluster.crash("eu-1");
    await cluster.startNode("eu-1");
    await cluster.ready();
    await cluster.crash("eu-0");
    await cluster.startNode("eu-0");
    await cluster.ready();
    for (const n of nodes)
      assert.deepEqual(await cluster.readAll(n.id, "amnesia", sent.length), sent, `on ${n.id}`);
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});

test("in process: losing every node of one region out of three, no acknowledged message is lost and the others keep serving", async () => {
  const six = ["eu", "us", "ap"].flatMap((region) => [0, 1].map((i) => ({ id: `${region}-${i}`, region })));
  const cluster = await InProcessCluster.start({ nodes: six, seed: 13 });
  try {
    await cluster.ready();
    await cluster
      .clients("us-0")
      .topics.createTopic({ topic: { name: "survive", partitions: 3, replicationFactor: 3 } });
    await cluster.ready();
    const acked = new Set<string>();
    // Retries on UNAVAILABLE as a real client does (an unacknowledged attempt may also have committed).
    const publish = async (at: string, text: string, since: number) => {
      for (;;) {
        try {
          await cluster.clients(at).publish.publish({ topic: "survive", key: body(text), body: body(text) });
          acked.add(text);
          return;
        } catch (err) {
          if (cluster.now() - since > 20_000)
            throw new Error(`publishing did not resume within 20 s: ${err}`);
          await cluster.sleep(20);
        }
      }
    };
    for (let i = 0; i < 60; i++) await publish(i % 2 ? "us-0" : "ap-1", `before-${i}`, cluster.now());
    await Promise.all([cluster.crash("eu-0"), cluster.crash("eu-1")]);
    const lostAt = cluster.now();
    for (let i = 0; i < 60; i++) await publish(i % 2 ? "us-0" : "ap-1", `after-${i}`, lostAt);
    const seen = await cluster.readAll("ap-1", "survive", (bodies) =>
      [...acked].every((b) => bodies.includes(b)),
    );
    const missing = [...acked].filter((b) => !seen.includes(b));
    assert.deepEqual(missing, [], "every acknowledged message is still there");
    assert.deepEqual(cluster.fatal, []);
  } finally {
    await cluster.stop();
  }
});

/** One run of a small scenario with faults, as a record of everything the seed decides. */
async function replayable(seed: number): Promise<{ log: string[]; endMs: number; lines: string[] }> {
  const cluster = await InProcessCluster.start({ nodes, seed, maxSkewMs: 50 });
  try {
    await cluster.ready();
    const publisher = async (at: string, from: number) => {
      for (let i = from; i < from + 15; i++)
        await cluster
          .clients(at)
          .broker.publish({ topic: "replay", body: body(`${at}-${i}`) })
          .catch(() => undefined);
    };
    await Promise.all([publisher("eu-0", 0), publisher("eu-1", 0), publisher("us-0", 0)]);
    await cluster.crash("eu-1");
    await Promise.all([publisher("eu-0", 15), publisher("us-0", 15)]);
    await cluster.startNode("eu-1");
    await cluster.ready();
    const info = await cluster.clients("eu-0").topics.getTopic({ name: "replay" });
    const end = Number(info.topic!.partitionInfo[0]!.nextOffset);
    const log = await cluster.readAll("eu-1", "replay", end);
    // Incarnations are random by design (a node must never reuse one), and a node that starts after
    // its peers formed the cluster takes a new one: everything else is the seed's.
    const randomIds = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{16}\b/g;
    const lines = nodes.flatMap((n) =>
      cluster.lines(n.id).map((l) => `${n.id}: ${l.replace(randomIds, "<id>")}`),
    );
    return { log, endMs: cluster.now(), lines };
  } finally {
    await cluster.stop();
  }
}

test("in process: the cluster runs on virtual time, so a seed replays the same run (elections, offsets, timing)", async () => {
  const first = await replayable(21);
  const second = await replayable(21);
  assert.equal(first.log.length, 75, "every publish of the scenario was stored once");
  assert.ok(
    first.lines.some((l) => /became leader/.test(l)),
    "the record holds the Raft cores' own lines",
  );
  assert.deepEqual(second.log, first.log, "the same messages at the same offsets");
  assert.deepEqual(second.lines, first.lines, "the same elections and votes, in the same order");
  assert.equal(second.endMs, first.endMs, "the same virtual time at the end");
  // And the record is fine enough to tell runs apart: another seed elects and times differently.
  const other = await replayable(22);
  assert.notDeepEqual(other.lines, first.lines, "another seed gives another run");
});
