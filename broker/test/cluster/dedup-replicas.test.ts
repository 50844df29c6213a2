import assert from "node:assert/strict";
import { test } from "node:test";
import type { PartitionSettingsView } from "../../src/cluster/state/partition-state-machine.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import {
  forEveryCrashPoint,
  group,
  maxMessages,
  publishEntry,
  Replica,
  retentionEntry,
} from "../storage/partition-replica.js";

const second = 1_000_000;
const t0 = 1_700_000_000 * second;
// Ten messages with ids, then a retention that keeps two: a1..a5 and b1..b3 are deleted while their
// ids are still well inside any window of seconds or more.
const history = [
  publishEntry(1, t0, ["a1", "a2", "a3", "a4", "a5"]),
  publishEntry(2, t0 + second, ["b1", "b2", "b3", "b4", "b5"]),
  retentionEntry(3, maxMessages(2, t0 + second)),
];
// A client retries a2 (its first attempt's answer was lost) together with a new message.
const retry = publishEntry(4, t0 + 2 * second, ["a2", "c1"]);

async function agree(a: Replica, b: Replica, what: string): Promise<void> {
  assert.deepEqual(await b.state(), await a.state(), `${what}: the replicas store different partitions`);
  assert.deepEqual(b.results.get(4), a.results.get(4), `${what}: the replicas answer the retry differently`);
  assert.deepEqual(a.results.get(4)?.duplicates, [true, false], `${what}: a2 is a duplicate, c1 is not`);
}

test("dedup: a replica that restarted after retention deleted messages still in the window agrees with one that did not", async () => {
  const a = await Replica.open(new CrashDb());
  const diskB = new CrashDb();
  const b = await Replica.open(diskB);
  await a.apply(history);
  await b.apply(history);
  // Everything B wrote survives; only its memory (the window) is gone.
  diskB.crash(() => 0.999_999);
  const b2 = await Replica.open(diskB);
  // After a restart the runner replays from the snapshot point; applied entries are skipped.
  await a.apply([retry]);
  await b2.apply([...history, retry]);
  await agree(a, b2, "after a restart");
});

test("dedup: a replica that installed a snapshot taken after such a retention agrees with its leader", async () => {
  const a = await Replica.open(new CrashDb());
  await a.apply(history);
  const b = await Replica.open(new CrashDb());
  await b.sm.restore({
    metadata: { index: 3, term: 1, confState: { voters: ["n1"], learners: [], votersOutgoing: [] } },
    data: await a.store.exportImage(group),
  });
  await a.apply([retry]);
  await b.apply([retry]);
  await agree(a, b, "after a snapshot");
});

test("dedup: replicas whose nodes configure different windows and caps still agree", async () => {
  const tiny: PartitionSettingsView = { dedupWindowMs: 1, dedupMaxIds: 1 };
  const a = await Replica.open(new CrashDb());
  const b = await Replica.open(new CrashDb(), tiny);
  await a.apply([...history, retry]);
  await b.apply([...history, retry]);
  await agree(a, b, "window 120 s / 100000 ids against 1 ms / 1 id");
});

test("dedup: the window and cap travel in each batch, and every replica applies the proposer's", async () => {
  const dedup = { windowMicros: 1.5 * second, maxIds: 2 };
  const entries = [
    // Three ids, cap 2: p1 leaves the window at the end of the batch.
    publishEntry(1, t0, ["p1", "p2", "p3"], { dedup }),
    // p1 is new again; p2 is still in the window.
    publishEntry(2, t0 + second, ["p1", "p2"], { dedup }),
    // 3 s later p2 (committed at t0) is older than the 1.5 s window: new again.
    publishEntry(3, t0 + 3 * second, ["p2"], { dedup }),
  ];
  const a = await Replica.open(new CrashDb());
  const b = await Replica.open(new CrashDb(), { dedupWindowMs: 600_000, dedupMaxIds: 1 });
  await a.apply(entries);
  await b.apply(entries);
  assert.deepEqual(await b.state(), await a.state());
  assert.deepEqual(a.results.get(2)?.duplicates, [false, true], "cap 2 evicted p1 only");
  assert.deepEqual(a.results.get(3)?.duplicates, [false], "the batch's 1.5 s window expired p2");
  assert.deepEqual(b.results.get(2), a.results.get(2));
  assert.deepEqual(b.results.get(3), a.results.get(3));
  assert.deepEqual(await b.store.dedupWindow(group), await a.store.dedupWindow(group));
  assert.deepEqual(
    a.sm.proposedDedup,
    { windowMicros: 120_000_000, maxIds: 100_000 },
    "what a's batches carry",
  );
});

test("dedup: a crash at every operation of a publish apply leaves the window the log says", async () => {
  const dedup = { windowMicros: 60 * second, maxIds: 4 };
  const trimming = publishEntry(4, t0 + 2 * second, ["a2", "c1", "c2", "c3"], { dedup });
  const after = publishEntry(5, t0 + 3 * second, ["b5", "a3", "c1"], { dedup });
  const reference = await Replica.open(new CrashDb());
  await reference.apply([...history, trimming, after]);
  await forEveryCrashPoint(
    async (disk) => {
      const replica = await Replica.open(disk);
      await replica.apply(history);
      return () => replica.apply([trimming]);
    },
    async ({ at, mode, disk, crashed }) => {
      const restarted = await Replica.open(disk);
      await restarted.apply([...history, trimming, after]);
      const where = `crash at operation ${at} of the publish apply (${mode}, crashed: ${crashed})`;
      assert.deepEqual(await restarted.state(), await reference.state(), where);
      assert.deepEqual(restarted.results.get(5), reference.results.get(5), where);
      assert.deepEqual(
        await restarted.store.dedupWindow(group),
        await reference.store.dedupWindow(group),
        where,
      );
    },
  );
});
