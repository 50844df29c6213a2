import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type CompatClient, compatClient, v1Clients } from "../support/clients.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"]);
});

after(async () => {
  await cluster?.stop();
});

async function collect(
  client: CompatClient,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<{ id: string; body: string }[]> {
  const stream = client.subscribe({ [topic]: 0 });
  const out: { id: string; body: string }[] = [];
  const timer = setTimeout(() => stream.cancel(), timeoutMs);
  try {
    for await (const m of stream) {
      out.push({ id: m.id, body: m.body.toString() });
      if (out.length === count) break;
    }
  } catch {
    // Cancelled by the timeout: the assertion below reports what arrived.
  } finally {
    clearTimeout(timer);
    stream.cancel();
  }
  return out;
}

async function leaderOf(topic: string): Promise<string> {
  for (const n of cluster.nodes.filter((x) => x.child)) {
    try {
      const c = v1Clients(n.clientPort);
      const res = await c.topics.getTopic({ name: topic }, { headers: c.headers });
      const leader = res.topic?.partitionInfo[0]?.leaderNodeId;
      if (leader) return leader;
    } catch {
      // try the next node
    }
  }
  throw new Error(`no leader known for ${topic}`);
}

test("publish through every node, subscribe through every other: every message, in publish order", async () => {
  const publishers = await Promise.all(cluster.nodes.map((n) => compatClient(n.clientPort)));
  const sent: string[] = [];
  for (let i = 0; i < 60; i++) {
    const body = `m${i}`;
    await publishers[i % 3]!.publish("orders", body);
    sent.push(body);
  }
  for (const [i, n] of cluster.nodes.entries()) {
    const sub = await compatClient(n.clientPort);
    const got = await collect(sub, "orders", sent.length);
    assert.deepEqual(
      got.map((m) => m.body),
      sent,
      `subscriber on ${n.id} (publisher ${i}) sees every message in order`,
    );
    sub.close();
  }
  for (const p of publishers) p.close();
});

test("every node exports Prometheus metrics for what it served, and answers health checks", async () => {
  const totals = await Promise.all(
    cluster.nodes.map(async (n) => {
      const text = await (await fetch(`http://127.0.0.1:${n.httpPort}/metrics`)).text();
      const value = (name: string) =>
        Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? "NaN");
      assert.equal((await fetch(`http://127.0.0.1:${n.httpPort}/healthz`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${n.httpPort}/readyz`)).status, 200);
      assert.ok(value("geobroker_storage_fsync_seconds_count") > 0, `${n.id} synced its log`);
      assert.ok(value("geobroker_delivered_messages_total") >= 60, `${n.id} delivered the 60 messages`);
      return value("geobroker_published_messages_total");
    }),
  );
  assert.equal(
    totals.reduce((a, b) => a + b, 0),
    60,
    "60 publishes counted across the nodes that took them",
  );
});

test("kill -9 of the partition leader: no acknowledged message lost, a new leader serves within 2 s", async () => {
  const topic = "failover";
  const leaderId = await (async () => {
    const c = await compatClient(cluster.nodes[0]!.clientPort);
    await c.publish(topic, "warmup");
    c.close();
    return leaderOf(topic);
  })();
  const survivors = cluster.nodes.filter((n) => n.id !== leaderId);
  const client = await compatClient(survivors[0]!.clientPort);
  const acked: string[] = ["warmup"];
  let killedAt = 0;
  let firstAckAfterKill = 0;
  const errors: string[] = [];
  const deadline = Date.now() + 15_000;
  for (let i = 0; Date.now() < deadline && (firstAckAfterKill === 0 || acked.length < 150); i++) {
    if (i === 50) {
      killedAt = Date.now();
      await cluster.kill(cluster.node(leaderId));
    }
    const body = `f${i}`;
    try {
      await client.publish(topic, body);
      acked.push(body);
      if (killedAt && !firstAckAfterKill) firstAckAfterKill = Date.now();
    } catch (err) {
      // UNAVAILABLE while there is no leader: a real client retries, and so do we.
      errors.push((err as Error).message);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const outage = firstAckAfterKill - killedAt;
  console.log(`leader ${leaderId} killed; publishes served again after ${outage} ms`);
  assert.ok(
    firstAckAfterKill > 0,
    `publishing resumed (errors: ${[...new Set(errors)].slice(0, 5).join(" / ")})`,
  );
  assert.ok(outage < 2000, `service resumed within 2 s (took ${outage} ms)`);
  // The follower waits for the next leader instead of passing the dead leader's refusal on.
  assert.deepEqual(
    errors.filter((e) => /ECONNREFUSED/.test(e)),
    [],
    "no connection error of the dead leader reached the client",
  );
  const reader = await compatClient(survivors[1]!.clientPort);
  const bodies = (await collect(reader, topic, acked.length)).map((m) => m.body);
  // Every acknowledged message is there, in order (an unacknowledged attempt may also have committed).
  const delivered = bodies.filter((b) => acked.includes(b));
  assert.deepEqual(delivered, acked);
  client.close();
  reader.close();
});

test("a restarted node catches up on what it missed", async () => {
  const down = cluster.nodes.find((n) => !n.child)!;
  assert.ok(down, "the previous test left a node down");
  const topic = "failover";
  const up = await compatClient(cluster.nodes.find((n) => n.child)!.clientPort);
  for (let i = 0; i < 20; i++) await up.publish(topic, `late${i}`);
  const expected = (await collect(up, topic, 10_000, 3000)).map((m) => m.body);
  cluster.launch(down);
  await cluster.waitReady([down]);
  const back = await compatClient(down.clientPort);
  const got = (await collect(back, topic, expected.length)).map((m) => m.body);
  assert.deepEqual(got, expected);
  up.close();
  back.close();
});
