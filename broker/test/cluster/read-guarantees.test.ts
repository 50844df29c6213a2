import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SubscribeResponse } from "../../../gen/geobroker/v1/consume_pb.js";
import { type InProcessClients, InProcessCluster } from "../support/in-process-cluster.js";

// The read guarantees of docs/raft.md ("Read guarantees") on the production cluster layer in one
// process (test/support/in-process-cluster.ts), with ap-0 cut off from every peer while its client
// port stays reachable. Virtual time makes the waits exact: "waited at least 4 s" is a fact of the
// run, not of how busy the machine was.

let cluster: InProcessCluster;
let eu: InProcessClients;
let ap: InProcessClients;
const enc = (s: string) => new TextEncoder().encode(s);

before(async () => {
  cluster = await InProcessCluster.start({
    nodes: [
      { id: "eu-0", region: "eu" },
      { id: "us-0", region: "us" },
      { id: "ap-0", region: "ap" },
    ],
    seed: 17,
  });
  await cluster.ready();
  eu = cluster.clients("eu-0");
  ap = cluster.clients("ap-0");
});

after(async () => {
  await cluster?.stop();
});

/** A topic led from eu, with ap-0's replica caught up. */
async function topic(name: string): Promise<void> {
  await eu.topics.createTopic({ topic: { name, partitions: 1, replicationFactor: 3, homeRegion: "eu" } });
  await cluster.eventually("eu-0 to lead and ap-0 to know it", 20_000, async () => {
    const t = (await ap.topics.getTopic({ name })).topic;
    return t?.partitionInfo[0]?.leaderNodeId === "eu-0" || undefined;
  });
  await eu.publish.publish({ topic: name, body: enc("first") });
  await cluster.eventually("ap-0 to apply the first message", 10_000, async () => {
    const t = (await ap.topics.getTopic({ name })).topic;
    return (t?.partitionInfo[0]?.nextOffset ?? 0n) >= 1n || undefined;
  });
}

test("a publish through a node whose replica cannot catch up says so instead of answering as if it had", async () => {
  await topic("rg.ryw");
  cluster.isolate("ap-0");
  try {
    // ap-0 still knows eu-0 leads: it forwards, the leader commits with us-0, ap-0 never applies.
    const started = cluster.now();
    await assert.rejects(ap.publish.publish({ topic: "rg.ryw", body: enc("mine") }), (err: unknown) => {
      const e = ConnectError.from(err);
      assert.equal(e.code, Code.Unavailable, e.message);
      assert.match(
        e.rawMessage,
        /published durably as rg\.ryw\/0\/1 .*this node's replica has not applied it \(it has not heard from the partition's leader for \d+ ms\)/,
      );
      return true;
    });
    // It gives up once its replica is stale (one election timeout, 100 ms here, without a word from
    // the leader: cut off, it cannot catch up), not after the whole 5 s wait for a lagging replica.
    const waited = cluster.now() - started;
    assert.ok(
      waited >= 100 && waited < 1_000,
      `it waited until its replica was stale (100 ms) before giving up: ${waited} ms`,
    );
  } finally {
    cluster.heal();
  }
  // Durable all along: the leader has it at offset 1.
  const t = (await eu.topics.getTopic({ name: "rg.ryw" })).topic;
  assert.equal(t?.partitionInfo[0]?.nextOffset, 2n);
});

test("a cut-off replica keeps serving its prefix, reports itself stale, and refuses a linearizable start", async () => {
  await topic("rg.stale");
  const ac = new AbortController();
  const responses: SubscribeResponse[] = [];
  const reading = (async () => {
    try {
      for await (const r of ap.consume.subscribe(
        { topic: "rg.stale", start: { position: { case: "earliest", value: true } }, reportStatus: true },
        { signal: ac.signal },
      ))
        responses.push(r);
    } catch {
      // aborted at the end
    }
  })();
  try {
    await cluster.until(
      "the first message and a fresh status",
      10_000,
      () => responses.some((r) => r.message) && responses.some((r) => r.status && !r.status.stale),
    );
    cluster.isolate("ap-0");
    const cutAt = cluster.now();
    await cluster.until("a stale status", 10_000, () => responses.some((r) => r.status?.stale));
    const stale = responses.find((r) => r.status?.stale)!;
    // Stale after one election timeout without the leader (10 ticks of 10 ms), told within a second more.
    assert.ok(cluster.now() - cutAt < 1_500, `told within 1.5 s of the cut: ${cluster.now() - cutAt} ms`);
    assert.ok(stale.status!.leaderContactAgeMs > 100n || stale.status!.leaderContactAgeMs === -1n);
    assert.equal(stale.status!.nextOffset, 1n, "the prefix it serves");
    assert.equal(stale.servedBy?.nodeId, "ap-0");
    // A linearizable start cannot be confirmed by a leader: UNAVAILABLE, not an old prefix.
    await assert.rejects(
      (async () => {
        for await (const _ of ap.consume.subscribe({
          topic: "rg.stale",
          start: { position: { case: "latest", value: true } },
          linearizableStart: true,
        }))
          break;
      })(),
      (err: unknown) => {
        const e = ConnectError.from(err);
        assert.equal(e.code, Code.Unavailable, e.message);
        assert.match(e.rawMessage, /no read index within .*cannot confirm it is current/);
        return true;
      },
    );
  } finally {
    cluster.heal();
  }
  await cluster.until(
    "a fresh status again after healing",
    15_000,
    () => responses.at(-1)?.status?.stale === false,
  );
  ac.abort();
  await reading;
});

test("a linearizable latest start on a follower begins after every message acknowledged before it", async () => {
  await topic("rg.lin");
  for (let i = 0; i < 20; i++) await eu.publish.publish({ topic: "rg.lin", body: enc(`old-${i}`) });
  const ac = new AbortController();
  const first = (async () => {
    for await (const r of ap.consume.subscribe(
      { topic: "rg.lin", start: { position: { case: "latest", value: true } }, linearizableStart: true },
      { signal: ac.signal },
    ))
      if (r.message) return r.message;
    return undefined;
  })();
  await cluster.sleep(1000);
  await eu.publish.publish({ topic: "rg.lin", body: enc("new") });
  const m = await first;
  ac.abort();
  assert.equal(new TextDecoder().decode(m?.body), "new");
  assert.equal(m?.offset, 21n);
});
