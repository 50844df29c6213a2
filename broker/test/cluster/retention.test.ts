import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type PartitionExtent,
  type RetentionEntry,
  retentionCut,
} from "../../src/cluster/state/retention.js";

const entry = (
  over: Partial<{ maxAgeMs: number; maxBytes: number; maxMessages: number; keepUnacknowledged: boolean }>,
  unacknowledgedFloor?: number,
): RetentionEntry => ({
  nowMicros: 10_000_000,
  policy: { maxAgeMs: 0, maxBytes: 0, maxMessages: 0, keepUnacknowledged: false, ...over },
  ...(unacknowledgedFloor !== undefined ? { unacknowledgedFloor } : {}),
});
// Offsets 100..199 retained.
const extent = (over: Partial<PartitionExtent> = {}): PartitionExtent => ({ first: 100, next: 200, ...over });

test("no limits: nothing is removed", () => {
  assert.equal(retentionCut(extent({ firstYoungEnough: 150, firstWithinBytes: 190 }), entry({})), 100);
});

test("max age removes exactly the messages older than the cutoff, the newest too", () => {
  assert.equal(retentionCut(extent({ firstYoungEnough: 150 }), entry({ maxAgeMs: 5000 })), 150);
  assert.equal(
    retentionCut(extent({ firstYoungEnough: 200 }), entry({ maxAgeMs: 5000 })),
    200,
    "all too old",
  );
});

test("max messages and max bytes keep the partition at or under the limit, never removing the newest", () => {
  assert.equal(retentionCut(extent(), entry({ maxMessages: 30 })), 170);
  assert.equal(retentionCut(extent({ firstWithinBytes: 185 }), entry({ maxBytes: 1000 })), 185);
  assert.equal(retentionCut(extent({ firstWithinBytes: 200 }), entry({ maxBytes: 10 })), 199, "newest kept");
  assert.equal(
    retentionCut(
      extent({ firstWithinBytes: 185, firstYoungEnough: 120 }),
      entry({ maxBytes: 1000, maxMessages: 50, maxAgeMs: 1 }),
    ),
    185,
    "the strictest limit wins",
  );
});

test("unacknowledged messages are kept when the policy says so, and only then", () => {
  assert.equal(retentionCut(extent(), entry({ maxMessages: 10, keepUnacknowledged: true }, 160)), 160);
  assert.equal(retentionCut(extent(), entry({ maxMessages: 10, keepUnacknowledged: false }, 160)), 190);
  assert.equal(
    retentionCut(extent(), entry({ maxMessages: 10, keepUnacknowledged: true }, 50)),
    100,
    "floor below first",
  );
});

test("the same input always gives the same answer (replicas agree)", () => {
  const e = entry({ maxMessages: 7, maxBytes: 500, maxAgeMs: 100 }, 180);
  const x = extent({ firstYoungEnough: 130, firstWithinBytes: 175 });
  assert.equal(retentionCut(x, e), retentionCut({ ...x }, { ...e }));
});

test("an empty partition stays empty", () => {
  assert.equal(
    retentionCut({ first: 0, next: 0, firstYoungEnough: 0, firstWithinBytes: 0 }, entry({ maxMessages: 1 })),
    0,
  );
});
