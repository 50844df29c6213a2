import assert from "node:assert/strict";
import { test } from "node:test";
import { addTotals, emptyTotals, runStackSeed } from "../../src/sim/stack-sim.js";

// The production stack (runner, state machines, stores, tracker, read path, group registry and
// maintenance) under power losses at any await, disk losses (re-admission under a new incarnation),
// replica moves through the metadata, skewed clocks, retention and retried publishes. A failing seed
// prints its trace and the command that replays it (npm run sim -- --stack full --seed N --verbose).
// `npm run sim -- --stack full --seeds 500 --start 900001` is the long soak.
const seeds = Number(process.env.GEOBROKER_STACK_SEEDS ?? 200);

test(`${seeds} full-stack simulations: no acknowledged publish lost or moved, replicas agree, subscribers see no gap, no amnesiac votes`, async () => {
  const t = emptyTotals();

  for (let seed = 1; seed <= seeds; seed++) {
    addTotals(t, await runStackSeed({ seed, faultMs: 1000 }));
  }
  // The runs must have exercised what they claim to.
  assert.ok(t.crashes > seeds, `power losses ${t.crashes}`);
  assert.ok(t.lostWrites > seeds / 4, `power losses that lost unsynced writes ${t.lostWrites}`);
  assert.ok(t.snapshots > seeds, `snapshots installed ${t.snapshots}`);
  assert.ok(t.confChanges > seeds / 2, `membership changes ${t.confChanges}`);
  assert.ok(t.readded > seeds / 4, `members added again after their removal ${t.readded}`);
  assert.ok(t.wipes > seeds / 10, `disks lost ${t.wipes}`);
  assert.ok(t.readmitted > seeds / 10, `members re-admitted under a new incarnation ${t.readmitted}`);
  assert.ok(t.retentionEntries > seeds, `retention entries ${t.retentionEntries}`);
  assert.ok(t.retried > seeds, `retried publishes ${t.retried}`);
  assert.ok(t.duplicatesAcked > 0, `retries answered by dedup ${t.duplicatesAcked}`);
  assert.ok(t.delivered > t.acked / 2, `messages delivered to subscribers ${t.delivered}`);
  console.log(`full-stack simulation: ${seeds} seeds, ${JSON.stringify(t)}`);
});

// Seed 900017 (the soak's range) once ended its settle while n1's Ready loop was still in a long
// apply (retention clearing rows one chunk at a time): n1's runner still said "leader" from its last
// Ready, so the catch-up check compared the group with n1's own low applied index and passed, and
// the final check failed with "n1 group 2 ends at 373, before acknowledged offset 376". The leader
// is now read from the live cores (highest term).
test("seed 900017: the settle waits for a replica whose Ready loop is busy in a long apply", async () => {
  const r = await runStackSeed({ seed: 900017, amnesia: true });
  assert.ok(r.acked > 0, `seed 900017: acknowledged ${r.acked}`);
});
