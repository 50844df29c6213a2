import assert from "node:assert/strict";
import { test } from "node:test";
import type { PartitionSettingsView } from "../../src/cluster/partition-state-machine.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { group, maxMessages, publishEntry, Replica, retentionEntry } from "../storage/partition-replica.js";

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
