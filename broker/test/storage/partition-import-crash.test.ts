import assert from "node:assert/strict";
import { test } from "node:test";
import { CrashDb } from "../../src/storage/crash-db.js";
import { PartitionStore } from "../../src/storage/partition-store.js";
import {
  forEveryCrashPoint,
  group,
  groupRows,
  maxMessages,
  publishEntry,
  Replica,
  retentionEntry,
} from "./partition-replica.js";

const ids = (entry: number) => Array.from({ length: 10 }, (_, i) => `id-${entry}-${i}`);
const second = 1_000_000;

/** A leader's partition image: offsets 30..79 after a retention, taken at applied index 9. */
async function leaderImage(): Promise<Uint8Array> {
  const leader = await Replica.open(new CrashDb());
  const entries = Array.from({ length: 8 }, (_, i) => publishEntry(i + 1, (i + 1) * second, ids(i + 1)));
  await leader.apply([...entries, retentionEntry(9, maxMessages(50))]);
  return leader.store.exportImage(group);
}

/** A follower that is behind: offsets 0..29 (the image has none of them), applied index 3. */
async function follower(disk: CrashDb): Promise<Replica> {
  const replica = await Replica.open(disk);
  await replica.apply([1, 2, 3].map((i) => publishEntry(i, i * second, ids(i))));
  return replica;
}

test("snapshot import survives a crash at every operation: the old partition or the new one, whole", async () => {
  const image = await leaderImage();
  const before = new CrashDb();
  await follower(before);
  const oldRows = groupRows(before);
  const after = new CrashDb();
  await (await follower(after)).store.importImage(group, image, 9);
  const newRows = groupRows(after);
  assert.notDeepEqual(oldRows, newRows);

  const points = await forEveryCrashPoint(
    async (disk) => {
      const replica = await follower(disk);
      return () => replica.store.importImage(group, image, 9);
    },
    async ({ at, mode, disk, crashed }) => {
      const store = await PartitionStore.open(disk.open());
      const rows = groupRows(disk);
      const where = `crash at operation ${at} of importImage (${mode}, crashed: ${crashed})`;
      assert.ok(
        JSON.stringify(rows) === JSON.stringify(oldRows) || JSON.stringify(rows) === JSON.stringify(newRows),
        `${where}: the partition is neither the old one nor the imported one (${rows.length} rows; old ${oldRows.length}, new ${newRows.length})`,
      );
      if (JSON.stringify(rows) === JSON.stringify(newRows)) {
        assert.equal(store.appliedIndex(group), 9, where);
        assert.equal(store.firstOffset(group), 30, where);
        assert.equal(store.nextOffset(group), 80, where);
      } else {
        assert.equal(store.appliedIndex(group), 3, where);
        assert.equal(store.nextOffset(group), 30, where);
      }
    },
  );
  assert.ok(points > 1, "the import did some work");
});

test("an image exported while retention and publishes apply describes one state of the partition", async () => {
  for (let kept = 6; kept <= 25; kept++) {
    const leader = await Replica.open(new CrashDb());
    const history = Array.from({ length: 8 }, (_, i) => publishEntry(i + 1, (i + 1) * second, ids(i + 1)));
    await leader.apply(history);
    // The export starts first; retention (which deletes rows) and a publish apply meanwhile.
    const exporting = leader.store.exportImage(group);
    const later = [retentionEntry(9, maxMessages(kept)), publishEntry(10, 20 * second, [`late-${kept}`])];
    await Promise.all([exporting, leader.apply(later)]);
    const follower = await Replica.open(new CrashDb());
    await follower.store.importImage(group, await exporting, 8);
    await follower.apply([...history, ...later]);
    assert.deepEqual(
      await follower.state(),
      await leader.state(),
      `retention keeping ${kept}: the image's replica, caught up from the log, differs from the leader`,
    );
  }
});
