import assert from "node:assert/strict";
import { test } from "node:test";
import { type Ack, checkPartition, duplicates, firstDifference, seededRandom } from "./workload.js";

// The chaos suite's checker must fail on exactly what it promises to catch.

const ack = (seq: number, offset: number): Ack => ({
  seq,
  offset: BigInt(offset),
  body: `p0-${seq}`,
  startedAt: 0,
  at: 0,
});
const read = (bodies: string[], offsets = bodies.map((_, i) => i)) => ({
  offsets: offsets.map(BigInt),
  bodies,
});

test("a complete log with a retried duplicate passes", () => {
  // p0-1's first attempt committed at 1 but its answer was lost; the retry was acknowledged at 2.
  const acked = [ack(0, 0), ack(1, 2), ack(2, 3)];
  const log = read(["p0-0", "p0-1", "p0-1", "p0-2"]);
  assert.deepEqual(checkPartition("n", log, acked), []);
  assert.equal(duplicates(log), 1);
});

test("a missing acknowledged message, a gap, a wrong body and an order break are each reported", () => {
  const acked = [ack(0, 0), ack(1, 1), ack(2, 2)];
  assert.match(checkPartition("n", read(["p0-0", "p0-1"]), acked).join(), /p0-2 \(offset 2\) is missing/);
  assert.match(
    checkPartition("n", read(["p0-0", "p0-1", "p0-2"], [0, 1, 3]), acked).join(),
    /offset 3 at position 2/,
  );
  assert.match(
    checkPartition("n", read(["p0-0", "p0-2", "p0-1"]), acked).join(),
    /offset 1 holds p0-2, but p0-1 was acknowledged there/,
  );
  assert.match(
    checkPartition("n", read(["p0-0", "p0-1", "p0-2"]), [ack(0, 0), ack(1, 2), ack(2, 1)]).join(),
    /p0-2 acknowledged at offset 1, not after p0-1 at 2/,
  );
});

test("after a retention window, a removed prefix of old acknowledgements is no loss; a gap still is", () => {
  const acked = [ack(0, 0), { ...ack(1, 1), at: 50 }, { ...ack(2, 2), at: 60 }];
  const cut = read(["p0-1", "p0-2"], [1, 2]);
  assert.deepEqual(checkPartition("n", cut, acked, 10), []);
  // p0-1 was acknowledged after the window ended (at 50 > 10): retention had no right to it.
  assert.match(checkPartition("n", read(["p0-2"], [2]), acked, 10).join(), /p0-1 \(offset 1\) is missing/);
  assert.match(checkPartition("n", read(["p0-1"], [1]), acked, 100).join(), /p0-2 \(offset 2\) is missing/);
  assert.match(
    checkPartition("n", read(["p0-0", "p0-2"], [0, 2]), acked, 100).join(),
    /offset 2 at position 1/,
  );
  // Without a window the log must start at 0.
  assert.match(checkPartition("n", cut, acked).join(), /offset 1 at position 0/);
});

test("two copies of a partition are compared offset by offset, whatever their first offset", () => {
  assert.equal(firstDifference(read(["b", "c"], [1, 2]), read(["a", "b", "c"])), undefined);
  assert.equal(firstDifference(read(["b", "x"], [1, 2]), read(["a", "b", "c"])), "offset 2 holds x and c");
});

test("the schedule's random source depends on the seed alone", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b()),
  );
  assert.notDeepEqual(xs, Array.from({ length: 5 }, seededRandom(43)));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});
