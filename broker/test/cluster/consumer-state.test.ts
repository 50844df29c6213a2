import assert from "node:assert/strict";
import { test } from "node:test";
import { AckCursor, DeliveryTracker } from "../../src/cluster/consumers/consumer-cursor.js";
import { DedupWindow } from "../../src/cluster/state/dedup-window.js";

test("the ack floor advances over contiguous acks, out-of-order acks wait above it", () => {
  const c = new AckCursor(0);
  c.ack(1);
  c.ack(2);
  assert.equal(c.floor, 0);
  assert.ok(c.isAcked(2) && !c.isAcked(0));
  c.ack(0);
  assert.equal(c.floor, 3);
  assert.equal(c.sparse, 0);
  c.ack(5);
  c.skipTo(5);
  assert.equal(c.floor, 6, "skipping to a retained offset folds acks above it");
  assert.deepEqual(AckCursor.fromJSON(c.toJSON()).toJSON(), c.toJSON());
});

test("unacked deliveries come due after the ack timeout, then go to dead letters after max deliveries", () => {
  const t = new DeliveryTracker(1000, 2);
  assert.equal(t.delivered(7, 0), 1);
  assert.deepEqual(t.due(999), { redeliver: [], deadLetter: [] });
  assert.deepEqual(t.due(1000).redeliver, [{ offset: 7, deliveries: 1 }]);
  assert.equal(t.delivered(7, 1000), 2);
  assert.deepEqual(t.due(2000).deadLetter, [{ offset: 7, deliveries: 2 }]);
  assert.equal(t.inFlight, 0);
});

test("an ack stops redelivery and a nack brings it forward", () => {
  const t = new DeliveryTracker(10_000, 0);
  t.delivered(1, 0);
  t.delivered(2, 0);
  t.acked(1);
  t.nacked(2, 0, 50);
  assert.equal(t.nextDueMs(), 50);
  assert.deepEqual(t.due(50).redeliver, [{ offset: 2, deliveries: 1 }]);
});

test("the dedup window finds recent ids, forgets old ones by log time, and stays bounded", () => {
  const params = { windowMicros: 1_000_000, maxIds: 3 };
  const w = new DedupWindow();
  w.record("a", 10, 0);
  w.expire(500_000, params);
  assert.equal(w.lookup("a"), 10);
  w.expire(2_000_000, params);
  assert.equal(w.lookup("a"), undefined, "older than the window at a later batch");
  w.record("a", 11, 2_000_000);
  w.record("b", 12, 2_000_100);
  w.record("c", 13, 2_000_200);
  w.record("d", 14, 2_000_300);
  w.trim(params);
  assert.equal(w.size, 3);
  assert.equal(w.lookup("a"), undefined, "the oldest id made room");
  assert.deepEqual(
    new DedupWindow(w.rows()).rows(),
    w.rows(),
    "rebuilt from its rows, it is the same window",
  );
});
