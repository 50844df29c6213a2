import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SubscribeResponse } from "../../../gen/geobroker/v1/consume_pb.js";
import { v1Clients } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { ProcessCluster } from "../support/process-cluster.js";

// The read guarantees of docs/raft.md ("Read guarantees") on real processes, with ap-0 cut off from
// its leader through the fault proxies on the peer links (client ports stay reachable).

let cluster: ProcessCluster;
let eu: ReturnType<typeof v1Clients>;
let ap: ReturnType<typeof v1Clients>;
const enc = (s: string) => new TextEncoder().encode(s);

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"], { faultProxies: true });
  eu = v1Clients(cluster.node("eu-0").clientPort);
  ap = v1Clients(cluster.node("ap-0").clientPort);
});

after(async () => {
  await cluster?.stop();
});

/** A topic led from eu, with ap-0's replica caught up. */
async function topic(name: string): Promise<void> {
  await eu.topics.createTopic(
    { topic: { name, partitions: 1, replicationFactor: 3, homeRegion: "eu" } },
    { headers: eu.headers, timeoutMs: 15_000 },
  );
  await eventually("eu-0 to lead and ap-0 to know it", 20_000, async () => {
    const t = (await ap.topics.getTopic({ name }, { headers: ap.headers })).topic;
    return t?.partitionInfo[0]?.leaderNodeId === "eu-0" || undefined;
  });
  await eu.publish.publish({ topic: name, body: enc("first") }, { headers: eu.headers, timeoutMs: 10_000 });
  await eventually("ap-0 to apply the first message", 10_000, async () => {
    const t = (await ap.topics.getTopic({ name }, { headers: ap.headers })).topic;
    return (t?.partitionInfo[0]?.nextOffset ?? 0n) >= 1n || undefined;
  });
}

test("a publish through a node whose replica cannot catch up says so instead of answering as if it had", async () => {
  await topic("rg.ryw");
  cluster.network!.isolate(["ap-0"]);
  try {
    // ap-0 still knows eu-0 leads: it forwards, the leader commits with us-0, ap-0 never applies.
    const started = Date.now();
    await assert.rejects(
      ap.publish.publish({ topic: "rg.ryw", body: enc("mine") }, { headers: ap.headers, timeoutMs: 20_000 }),
      (err: unknown) => {
        const e = ConnectError.from(err);
        assert.equal(e.code, Code.Unavailable, e.message);
        assert.match(
          e.rawMessage,
          /published durably as rg\.ryw\/0\/1 .*this node's replica has not applied it/,
        );
        return true;
      },
    );
    assert.ok(Date.now() - started >= 4_000, "it waited for the replica before giving up");
  } finally {
    cluster.network!.heal();
  }
  // Durable all along: the leader has it at offset 1.
  const t = (await eu.topics.getTopic({ name: "rg.ryw" }, { headers: eu.headers })).topic;
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
        { headers: ap.headers, signal: ac.signal },
      ))
        responses.push(r);
    } catch {
      // aborted at the end
    }
  })();
  try {
    await eventually("the first message and a fresh status", 10_000, async () =>
      responses.some((r) => r.message) && responses.some((r) => r.status && !r.status.stale)
        ? true
        : undefined,
    );
    cluster.network!.isolate(["ap-0"]);
    const stale = await eventually("a stale status", 10_000, async () =>
      responses.find((r) => r.status?.stale),
    );
    assert.ok(stale.status!.leaderContactAgeMs > 500n || stale.status!.leaderContactAgeMs === -1n);
    assert.equal(stale.status!.nextOffset, 1n, "the prefix it serves");
    assert.equal(stale.servedBy?.nodeId, "ap-0");
    // A linearizable start cannot be confirmed by a leader: UNAVAILABLE, not an old prefix.
    await assert.rejects(
      (async () => {
        for await (const _ of ap.consume.subscribe(
          {
            topic: "rg.stale",
            start: { position: { case: "latest", value: true } },
            linearizableStart: true,
          },
          { headers: ap.headers, timeoutMs: 15_000 },
        ))
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
    cluster.network!.heal();
  }
  await eventually("a fresh status again after healing", 15_000, async () =>
    responses.at(-1)?.status?.stale === false ? true : undefined,
  );
  ac.abort();
  await reading;
});

test("a linearizable latest start on a follower begins after every message acknowledged before it", async () => {
  await topic("rg.lin");
  for (let i = 0; i < 20; i++)
    await eu.publish.publish(
      { topic: "rg.lin", body: enc(`old-${i}`) },
      { headers: eu.headers, timeoutMs: 10_000 },
    );
  const ac = new AbortController();
  const first = (async () => {
    for await (const r of ap.consume.subscribe(
      { topic: "rg.lin", start: { position: { case: "latest", value: true } }, linearizableStart: true },
      { headers: ap.headers, signal: ac.signal },
    ))
      if (r.message) return r.message;
    return undefined;
  })();
  await new Promise((r) => setTimeout(r, 1000));
  await eu.publish.publish({ topic: "rg.lin", body: enc("new") }, { headers: eu.headers, timeoutMs: 10_000 });
  const m = await first;
  ac.abort();
  assert.equal(new TextDecoder().decode(m?.body), "new");
  assert.equal(m?.offset, 21n);
});
