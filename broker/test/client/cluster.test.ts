import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { GeoBrokerClient } from "../../src/client/client.js";
import { connect } from "../../src/client/node.js";
import type { StatusEvent } from "../../src/client/status.js";
import { projectRoot } from "../../src/util/project-root.js";
import { ProcessCluster, testUser } from "../support/process-cluster.js";

// The library against real nodes: a node is killed mid-stream (the one every partition's leader and
// the subscriber's reads are on), and the application sees only latency.

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"]);
});

const clients: GeoBrokerClient[] = [];

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await cluster?.stop();
});

function clientIn(region: string): GeoBrokerClient {
  return connect({
    endpoints: cluster.nodes.map((n) => `127.0.0.1:${n.clientPort}`),
    region,
    auth: { basic: { user: testUser.name, password: testUser.password } },
    retry: { timeoutMs: 60_000 },
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a node killed mid-stream: every publish acknowledged once, the subscriber gets each exactly once, the consumer acks all", async () => {
  const total = 600;
  const topic = "client-kill";
  const producerClient = clientIn("eu");
  const subscriberClient = clientIn("us");
  const consumerClient = clientIn("ap");
  clients.push(producerClient, subscriberClient, consumerClient);
  const events: StatusEvent[] = [];
  subscriberClient.onStatus((e) => events.push(e));
  producerClient.onStatus((e) => events.push(e));
  // Leaders in us, where the subscriber reads: killing us-0 takes both away at once.
  await producerClient.admin.createTopic({
    name: topic,
    partitions: 2,
    replicationFactor: 3,
    homeRegion: "us",
  });
  for (const c of [producerClient, subscriberClient, consumerClient]) await c.admin.clusterInfo();

  const received: string[] = [];
  const sub = subscriberClient.subscribe({ topic, start: "earliest" });
  after(() => sub.close());
  const reading = (async () => {
    for await (const m of sub) {
      received.push(m.text());
      if (received.length === total) break;
    }
  })();
  const consumed = new Map<string, number>();
  // At-least-once: an ack the killed node took but did not replicate is redelivered after the ack
  // timeout, so the consumer acks whatever comes until the cluster's ack floor covers everything.
  const consumer = consumerClient.consumer({
    topic,
    name: "kill-test",
    start: "earliest",
    maxAckPending: 64,
    ackTimeoutMs: 2000,
  });
  const consuming = (async () => {
    for await (const m of consumer) {
      consumed.set(m.text(), (consumed.get(m.text()) ?? 0) + 1);
      m.ack();
    }
  })();

  const producer = producerClient.producer({ maxInFlight: 50 });
  const acked: { body: string; partition: number; offset: bigint }[] = [];
  const results: Promise<void>[] = [];
  const us = cluster.node("us-0");
  let killed = false;
  for (let i = 0; i < total; i++) {
    const body = `m${i}`;
    const q = await producer.queue({ topic, key: `k${i % 7}`, body });
    results.push(q.result.then((r) => void acked.push({ body, partition: r.partition, offset: r.offset })));
    if (i === 200) {
      await until("200 acknowledged", () => acked.length >= 150);
      await cluster.kill(us);
      killed = true;
    }
  }
  await Promise.all(results);
  assert.ok(killed);
  await producer.close();
  assert.equal(acked.length, total, "every publish was acknowledged (the library retried through the kill)");

  // Each message was appended once: the retries carried their message ids.
  const positions = new Set(acked.map((a) => `${a.partition}/${a.offset}`));
  assert.equal(positions.size, total, "no two publishes share an offset");

  await Promise.race([reading, until("the subscriber to finish", () => false, 60_000)]).catch((e) => {
    throw new Error(`${e.message}: got ${received.length} of ${total}`);
  });
  const counts = new Map<string, number>();
  for (const b of received) counts.set(b, (counts.get(b) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([b]) => b);
  assert.deepEqual(twice, [], "the subscriber got no message twice");
  const missing = acked.map((a) => a.body).filter((b) => !counts.has(b));
  assert.deepEqual(missing, [], "the subscriber got every acknowledged message");
  assert.ok(
    events.some((e) => e.type === "reconnecting"),
    `a reconnect was reported: ${JSON.stringify(events.map((e) => e.type))}`,
  );

  let floors = 0;
  const deadline = Date.now() + 60_000;
  while (floors < total && Date.now() < deadline) {
    const info = await consumerClient.admin.getConsumer(topic, "kill-test");
    floors = Object.values(info?.ackFloor ?? {}).reduce((sum, f) => sum + Number(f), 0);
    if (floors < total) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(
    floors,
    total,
    `every message is acknowledged in the cluster (consumed ${consumed.size} distinct)`,
  );
  assert.equal(consumed.size, total, "the consumer saw every message");
  await consumer.close();
  await consuming;
});

/** Runs the compiled CLI against the test cluster; resolves with its exit code and output. */
function cli(args: string[], stdin = ""): Promise<{ code: number | null; out: string }> {
  const n = cluster.nodes.find((x) => x.child)!;
  const main = join(projectRoot(), "dist", "broker", "src", "cli", "main.js");
  const child = spawn(
    process.execPath,
    [
      main,
      ...args,
      "--endpoint",
      `127.0.0.1:${n.clientPort}`,
      "--user",
      testUser.name,
      "--password",
      testUser.password,
      // not the local cluster of this checkout, if one runs
      "--cluster-file",
      join(cluster.dir, "no-cluster.json"),
    ],
    { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, GEOBROKER_ENDPOINT: "" } },
  );
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, out })));
}

test("the CLI on the library: pub, consume with acks, consumers describe, users and acl", async () => {
  const pub = await cli(["pub", "cli-topic", "one", "two", "three"]);
  assert.equal(pub.code, 0, pub.out);
  assert.match(pub.out, /cli-topic\/0\/2/);
  const consume = await cli(["consume", "cli-topic", "cli-reader", "--count", "3", "--json"]);
  assert.equal(consume.code, 0, consume.out);
  const bodies = consume.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { body: string; deliveryCount: number });
  assert.deepEqual(
    bodies.map((b) => b.body),
    ["one", "two", "three"],
  );
  const described = await cli(["consumers", "describe", "cli-topic", "cli-reader"]);
  assert.equal(described.code, 0, described.out);
  assert.match(described.out, /acked below 0:3/, "the acks were sent before the command exited");
  const created = await cli(["users", "create", "cli-user", "--password-stdin"], "a-long-password-1\n");
  assert.equal(created.code, 0, created.out);
  const listed = await cli(["users", "list"]);
  assert.match(listed.out, /cli-user {2}password/);
  assert.equal((await cli(["users", "delete", "cli-user"])).code, 0);
  const denied = await cli(["acl", "grant", "cli-user"]);
  assert.equal(denied.code, 2, "a grant without roles is a usage error");
  const bench = await cli(["bench", "cli-bench", "--msgs", "200", "--sub", "1"]);
  assert.equal(bench.code, 0, bench.out);
  assert.match(bench.out, /geobroker\/client: 200 acked, 0 errors/);
  assert.match(bench.out, /subscriber 0: 200 messages/);
});
