import assert from "node:assert/strict";
import { test } from "node:test";
import { type Chunk, chunksToRemove } from "../../src/cluster/retention.js";

const policy = (
  over: Partial<{ maxAgeMs: number; maxBytes: number; maxMessages: number; keepUnacknowledged: boolean }>,
) => ({
  maxAgeMs: 0,
  maxBytes: 0,
  maxMessages: 0,
  keepUnacknowledged: false,
  ...over,
});
// Ten chunks of 10 messages and 1000 bytes, one second apart.
const chunks: Chunk[] = Array.from({ length: 10 }, (_, i) => ({
  firstOffset: i * 10,
  count: 10,
  bytes: 1000,
  lastTimestampMicros: (i + 1) * 1_000_000,
}));

test("no limits: nothing is removed", () => {
  assert.equal(chunksToRemove({ chunks, policy: policy({}), nowMicros: 1e12 }), 0);
});

test("max age removes exactly the chunks wholly older than the cutoff", () => {
  // now = 10.5 s, max age 5 s: cutoff 5.5 s; chunks ending at 1..5 s go.
  assert.equal(chunksToRemove({ chunks, policy: policy({ maxAgeMs: 5000 }), nowMicros: 10_500_000 }), 5);
});

test("max bytes and max messages keep the partition at or under the limit", () => {
  assert.equal(chunksToRemove({ chunks, policy: policy({ maxBytes: 3500 }), nowMicros: 0 }), 7);
  assert.equal(chunksToRemove({ chunks, policy: policy({ maxMessages: 25 }), nowMicros: 0 }), 8);
  assert.equal(chunksToRemove({ chunks, policy: policy({ maxMessages: 30 }), nowMicros: 0 }), 7);
});

test("the newest chunk survives size limits, but not age", () => {
  assert.equal(chunksToRemove({ chunks, policy: policy({ maxBytes: 1 }), nowMicros: 0 }), 9);
  assert.equal(chunksToRemove({ chunks, policy: policy({ maxAgeMs: 1 }), nowMicros: 1e9 }), 10);
});

test("unacknowledged messages are kept when the policy says so, and only then", () => {
  const input = { chunks, nowMicros: 1e9, unacknowledgedFloor: 35 };
  assert.equal(chunksToRemove({ ...input, policy: policy({ maxAgeMs: 1, keepUnacknowledged: true }) }), 3);
  assert.equal(chunksToRemove({ ...input, policy: policy({ maxAgeMs: 1, keepUnacknowledged: false }) }), 10);
});

test("the same input always gives the same answer (replicas agree)", () => {
  const input = { chunks, policy: policy({ maxAgeMs: 3000, maxBytes: 6000 }), nowMicros: 7_200_000 };
  assert.equal(chunksToRemove(input), chunksToRemove(structuredClone(input)));
});
