import assert from "node:assert/strict";
import { test } from "node:test";
import { CrashDb } from "../../src/storage/crash-db.js";
import {
  forEveryCrashPoint,
  groupRows,
  maxMessages,
  publishEntry,
  Replica,
  retentionEntry,
} from "../storage/partition-replica.js";

const second = 1_000_000;
const publishes = Array.from({ length: 6 }, (_, i) =>
  publishEntry(
    i + 1,
    (i + 1) * second,
    Array.from({ length: 10 }, (_, j) => `id-${i + 1}-${j}`),
  ),
);
// Entry 6 (a publish) and the retention entry 7 are applied in one run, as a runner hands them over;
// entry 8 publishes after the cut.
const run = [publishes[5]!, retentionEntry(7, maxMessages(25)), publishEntry(8, 9 * second, ["late"])];

test("a retention entry applied with a crash at every operation, then replayed, matches a replica that never crashed", async () => {
  const reference = await Replica.open(new CrashDb());
  await reference.apply([...publishes.slice(0, 5), ...run]);
  const want = await reference.state();
  assert.equal((want as { first: number }).first, 35, "60 messages, 25 kept");

  await forEveryCrashPoint(
    async (disk) => {
      const replica = await Replica.open(disk);
      await replica.apply(publishes.slice(0, 5));
      return () => replica.apply(run);
    },
    async ({ at, mode, disk, crashed }) => {
      // The restarted node replays every committed entry after its snapshot point; apply skips
      // what the partition's applied index says it holds.
      const restarted = await Replica.open(disk);
      await restarted.apply([...publishes, ...run]);
      const where = `crash at operation ${at} of the retention apply (${mode}, crashed: ${crashed})`;
      assert.deepEqual(await restarted.state(), want, where);
      // Deleted rows do not linger once the node has reopened and applied.
      const first = restarted.store.firstOffset(7);
      // Message (0x44) and index (0x49) rows: prefix, group, offset, then "=" and the value.
      const below = groupRows(disk).filter(
        (r) => (r.startsWith("44") || r.startsWith("49")) && Number.parseInt(r.slice(18, 34), 16) < first,
      );
      assert.deepEqual(below, [], `${where}: rows below the first offset ${first} remain`);
    },
  );
});
