import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { InProcessCluster } from "../support/in-process-cluster.js";

// Seeded faults on the production cluster layer in one process (test/support/in-process-cluster.ts):
// while clients publish through random nodes, one node at a time loses power (the disk keeps what was
// synced) or loses its disk entirely (amnesia: it must rejoin under a new incarnation and be
// re-admitted before it votes), then comes back. Afterwards every node holds every acknowledged
// message, once, in one order. A failure names its seed: GEOBROKER_NEMESIS_SEED=<seed> replays it.
// The cluster runs on virtual time, the waits below too, so a replay follows the same choices on the
// same schedule (and the test reports a fingerprint of the run to show it).

/** Two streams, so the nemesis makes the same choices whatever the publishers do. */
const streams = (seed: number) => ({
  nemesis: seededRandom(seed),
  publishers: seededRandom(seed ^ 0x5bd1e995),
});

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "eu-1", region: "eu" },
  { id: "us-0", region: "us" },
];
const body = (s: string) => new TextEncoder().encode(s);

/**
 * Until every node is ready, re-admitted, and a voter again in every group. The next fault must wait
 * for that: a node wiped while another is still a learner leaves a group with two voters, one of
 * them amnesiac, which rightly elects nobody (a majority lost its state).
 */
async function settle(cluster: InProcessCluster, timeoutMs: number): Promise<void> {
  const deadline = cluster.now() + timeoutMs;
  for (;;) {
    await cluster.ready(Math.max(1, deadline - cluster.now()));
    const views = nodes.map((n) => cluster.node(n.id).localView());
    const whole = views.every(
      (v) =>
        !v.rejoining &&
        v.groups.every((g) => g.conf.voters.length === nodes.length && g.conf.learners.length === 0),
    );
    if (whole) return;
    if (cluster.now() > deadline) throw new Error("a node was not re-admitted and promoted in time");
    await cluster.sleep(20);
  }
}

async function runSeed(seed: number): Promise<{ acked: number; faults: string[]; failures: string[] }> {
  const { nemesis: random, publishers: pick } = streams(seed);
  const cluster = await InProcessCluster.start({ nodes, seed });
  const faults: string[] = [];
  let stop = false;
  try {
    await cluster.ready();
    await cluster
      .clients("eu-0")
      .topics.createTopic({ topic: { name: "n", partitions: 1, replicationFactor: 3 } });
    await settle(cluster, 10_000);
    const acked: string[] = [];
    const failures = new Map<string, number>();
    let next = 0;
    // Eight publishers through random running nodes; a failed publish is simply not acknowledged.
    const publisher = async () => {
      while (!stop) {
        const up = nodes.filter((n) => {
          try {
            return cluster.node(n.id) !== undefined;
          } catch {
            return false;
          }
        });
        if (up.length === 0) break;
        const at = up[Math.floor(pick() * up.length)]!.id;
        const payload = `m${next++}`;
        try {
          await cluster.clients(at).publish.publish({ topic: "n", body: body(payload) });
          acked.push(payload);
          // Paced on virtual time: on it the CPU, not the clock, would bound an unpaced publisher.
          await cluster.sleep(20);
        } catch (err) {
          const reason = String((err as Error).message).replace(/m\d+|\d+/g, "#");
          failures.set(reason, (failures.get(reason) ?? 0) + 1);
          await cluster.sleep(10);
        }
      }
    };
    const publishers = Array.from({ length: 8 }, () => publisher());
    for (let round = 0; round < 4; round++) {
      await cluster.sleep(100 + Math.floor(random() * 200));
      const victim = nodes[Math.floor(random() * nodes.length)]!.id;
      const amnesia = random() < 0.5;
      faults.push(`${amnesia ? "wipe" : "crash"} ${victim}`);
      if (amnesia) await cluster.wipe(victim);
      else await cluster.crash(victim);
      await cluster.sleep(Math.floor(random() * 300));
      await cluster.startNode(victim);
      try {
        await settle(cluster, 20_000);
      } catch (err) {
        throw new Error(`seed ${seed}, after ${faults.join(", ")}: ${(err as Error).message}`);
      }
    }
    stop = true;
    await Promise.all(publishers);
    assert.deepEqual(cluster.fatal, []);
    // Every acknowledged message on every node, in one order, none twice (publishes carry no message
    // id, so a retried publish could legitimately appear twice: there are no retries here). The log
    // may hold more than was acknowledged (a publish that failed to answer can have committed), so
    // the whole log is read: up to the partition's next offset once every replica has caught up.
    await settle(cluster, 20_000);
    const info = await cluster.clients("eu-0").topics.getTopic({ name: "n" });
    const end = Number(info.topic!.partitionInfo[0]!.nextOffset);
    const reference = await cluster.readAll("eu-0", "n", end);
    assert.equal(reference.length, end, "eu-0 reads its whole log");
    for (const n of nodes) {
      const got = n.id === "eu-0" ? reference : await cluster.readAll(n.id, "n", reference.length);
      assert.deepEqual(got, reference, `node ${n.id} agrees with eu-0`);
    }
    const present = new Set(reference);
    const lost = acked.filter((m) => !present.has(m));
    assert.deepEqual(lost, [], "no acknowledged message lost");
    assert.equal(new Set(reference).size, reference.length, "no message stored twice");
    return { acked: acked.length, faults, failures: [...failures].map(([r, n]) => `${n}x ${r}`) };
  } finally {
    stop = true;
    await cluster.stop();
  }
}

const only = process.env.GEOBROKER_NEMESIS_SEED;
const seeds = only ? [Number(only)] : [1, 2, 3];

for (const seed of seeds) {
  test(`in-process nemesis, seed ${seed} (GEOBROKER_NEMESIS_SEED=${seed} replays it): crashes and lost disks while publishing`, async () => {
    const r = await runSeed(seed);
    console.log(
      `seed ${seed}: ${r.acked} acknowledged, faults: ${r.faults.join(", ")}; failed: ${r.failures.join("; ")}`,
    );
    assert.ok(r.acked > 0, "the workload made progress");
  });
}
