// Durable-consumer semantics on the in-memory engine (one process, real ConsumerHub and dispatcher):
// at-least-once across a client crash and a dispatcher restart, redelivery, nack, dead letters,
// queue sharing with per-partition order, and the in-flight bound.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deadLetterHeaders } from "../../src/cluster/consumers/consumer-hub.js";
import type { ConsumerConfigInput } from "../../src/engine/engine.js";
import { ConsumerDriver } from "../support/consumer-driver.js";
import { MemoryEngine } from "../support/memory-engine.js";

/** A client of the engine's Consume, without the wire. */
const session = (engine: MemoryEngine, c: ConsumerConfigInput) =>
  new ConsumerDriver((commands, signal) => engine.consume(c, commands, { signal, hops: 0 }));

const config = (over: Partial<ConsumerConfigInput> = {}): ConsumerConfigInput => ({
  name: "workers",
  topic: "jobs",
  start: { kind: "earliest" },
  ackTimeoutMs: 0,
  maxDeliveries: 0,
  deadLetterTopic: "",
  ...over,
});

async function engineWith(messages: number): Promise<MemoryEngine> {
  const engine = new MemoryEngine();
  await engine.createTopic({ name: "jobs" });
  for (let i = 0; i < messages; i++)
    await engine.publish({ topic: "jobs", body: new TextEncoder().encode(`m${i}`) });
  return engine;
}

const settle = (ms = 60) => new Promise((r) => setTimeout(r, ms));

test("a client dies mid-stream: its unacked messages go to the next client, acked ones never again", async () => {
  const engine = await engineWith(100);
  const a = session(engine, config());
  a.send({ kind: "credit", credit: 30 });
  const first = await a.take(30);
  assert.equal(first.length, 30, "credit bounds what is sent");
  assert.deepEqual(
    first.map((d) => d.offset),
    [...Array(30).keys()],
    "in offset order",
  );
  assert.equal((await a.take(1, 100)).length, 0, "nothing beyond the credit");
  a.ack(...first.slice(0, 20).map((d) => d.offset));
  await settle(20);
  assert.equal(
    (await engine.getConsumer("jobs", "workers")).ackFloor[0],
    20,
    "acks reached the consumer's record",
  );
  a.kill();

  const b = session(engine, config());
  b.send({ kind: "credit", credit: 1000 });
  const rest = await b.take(80);
  assert.equal(rest.length, 80);
  const offsets = rest.map((d) => d.offset).sort((x, y) => x - y);
  assert.deepEqual(
    offsets,
    [...Array(80).keys()].map((i) => i + 20),
    "every message not acked, once",
  );
  assert.ok(
    rest.filter((d) => d.offset < 30).every((d) => d.count === 2),
    "the dead client's unacked messages come with delivery count 2",
  );
  b.ack(...rest.map((d) => d.offset));
  await settle();
  b.kill();
  assert.equal((await engine.getConsumer("jobs", "workers")).ackFloor[0], 100);
  assert.equal((await engine.getConsumer("jobs", "workers")).pending, 0);
});

test("after acks commit, a fresh dispatcher (all clients gone, linger over) starts after them", async () => {
  const engine = await engineWith(10);
  const a = session(engine, config());
  a.send({ kind: "credit", credit: 10 });
  const got = await a.take(10);
  a.ack(0, 1, 2, 5);
  await settle();
  a.kill();
  await settle(200); // longer than lingerMs: the dispatcher is gone
  const b = session(engine, config());
  b.send({ kind: "credit", credit: 100 });
  const again = await b.take(6);
  assert.equal(got.length, 10);
  assert.deepEqual(
    again.map((d) => d.offset),
    [3, 4, 6, 7, 8, 9],
    "acked offsets, also those above the floor, are not delivered again",
  );
  b.kill();
});

test("unacked messages are redelivered after the ack timeout, then dead-lettered after max deliveries", async () => {
  const engine = await engineWith(1);
  const s = session(engine, config({ ackTimeoutMs: 100, maxDeliveries: 2 }));
  s.send({ kind: "credit", credit: 10 });
  const [d1] = await s.take(1);
  const [d2] = await s.take(1, 1000);
  assert.equal(d1?.count, 1);
  assert.deepEqual([d2?.offset, d2?.count], [0, 2], "redelivered once the ack timeout passed");
  assert.equal((await s.take(1, 400)).length, 0, "not a third time");
  const dlq = engine.subscribe(
    { topic: "jobs.dlq", partitions: [], start: { kind: "earliest" }, waitForTopic: true },
    { signal: AbortSignal.timeout(2000), hops: 0 },
  );
  for await (const m of dlq) {
    assert.equal(new TextDecoder().decode(m.body), "m0");
    assert.equal(m.headers[deadLetterHeaders.topic], "jobs");
    assert.equal(m.headers[deadLetterHeaders.offset], "0");
    assert.equal(m.headers[deadLetterHeaders.deliveries], "2");
    break;
  }
  await settle();
  const info = await engine.getConsumer("jobs", "workers");
  assert.equal(info.deadLettered, 1);
  assert.equal(info.ackFloor[0], 1, "a dead-lettered message counts as handled");
  s.kill();
});

test("a nack brings a message back after its delay", async () => {
  const engine = await engineWith(2);
  const s = session(engine, config());
  s.send({ kind: "credit", credit: 10 });
  await s.take(2);
  s.send({ kind: "nack", refs: [{ partition: 0, offset: 1 }], delayMs: 150 });
  const started = Date.now();
  const [again] = await s.take(1, 1000);
  assert.deepEqual([again?.offset, again?.count], [1, 2]);
  assert.ok(Date.now() - started >= 120, "not before the delay");
  s.kill();
});

test("clients of one consumer share its messages, each seeing offsets in order", async () => {
  const engine = await engineWith(300);
  const a = session(engine, config());
  const b = session(engine, config());
  a.send({ kind: "credit", credit: 10 });
  b.send({ kind: "credit", credit: 10 });
  const got = await Promise.all([a.take(10), b.take(10)]);
  assert.deepEqual([got[0].length, got[1].length], [10, 10], "each client gets what its credit allows");
  for (let round = 0; round < 30; round++) {
    const [ga, gb] = await Promise.all([a.take(10, 300), b.take(10, 300)]);
    a.ack(...a.received.map((d) => d.offset));
    b.ack(...b.received.map((d) => d.offset));
    a.send({ kind: "credit", credit: ga.length + (round === 0 ? 10 : 0) });
    b.send({ kind: "credit", credit: gb.length + (round === 0 ? 10 : 0) });
    if (a.received.length + b.received.length >= 300) break;
  }
  const all = [...a.received, ...b.received].map((d) => d.offset);
  assert.equal(all.length, 300);
  assert.equal(new Set(all).size, 300, "no message went to both");
  for (const s of [a, b]) {
    const offs = s.received.map((d) => d.offset);
    assert.deepEqual(
      offs,
      [...offs].sort((x, y) => x - y),
      "each client sees increasing offsets",
    );
    assert.ok(offs.length > 50, "the work is shared");
  }
  a.kill();
  b.kill();
});

test("unacknowledged deliveries are bounded by maxInFlight whatever credit clients grant", async () => {
  const engine = await engineWith(300);
  const a = session(engine, config());
  a.send({ kind: "credit", credit: 1_000_000 });
  assert.equal((await a.take(300, 400)).length, 100);
  a.ack(0);
  assert.deepEqual(
    (await a.take(300, 200)).map((d) => d.offset),
    [100],
    "one ack makes room for one more",
  );
  a.kill();
});

test("attaching with different settings is refused; deleting frees the consumer", async () => {
  const engine = await engineWith(1);
  const call = { signal: new AbortController().signal, hops: 0 };
  await engine.createConsumer(config(), call);
  await assert.rejects(engine.createConsumer(config(), call), /exists/);
  const s = session(engine, config({ ackTimeoutMs: 5000 }));
  await assert.rejects(s.take(1), /another configuration/);
  await engine.deleteConsumer("jobs", "workers", call);
  await assert.rejects(engine.getConsumer("jobs", "workers"), /does not exist/);
  assert.deepEqual(await engine.listConsumers("jobs"), []);
});
