import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { CrashDb } from "../../src/storage/crash-db.js";

const k = (s: string) => Buffer.from(s);
const put = (key: string, value: string) => ({ type: "put" as const, key: k(key), value: k(value) });

// The double the crash tests and the full-stack simulation stand on: it must lose exactly what a
// power loss of RocksDB with its WAL can lose, and nothing a synced write made durable.
test("a crash keeps every synced batch and the batches before it, and a prefix of the rest", async () => {
  for (let seed = 1; seed <= 50; seed++) {
    const disk = new CrashDb();
    const db = disk.open();
    await db.batch([put("a", "1")], false);
    await db.batch([put("b", "1")], true); // makes a durable too: one ordered log
    for (let i = 0; i < 5; i++) await db.batch([put(`c${i}`, "1")], false);
    disk.crash(seededRandom(seed));
    const after = disk.open();
    assert.equal((await after.get(k("a")))?.toString(), "1", `seed ${seed}: written before a synced batch`);
    assert.equal((await after.get(k("b")))?.toString(), "1", `seed ${seed}: synced`);
    const kept = [];
    for (let i = 0; i < 5; i++) kept.push((await after.get(k(`c${i}`))) !== undefined);
    const firstLost = kept.indexOf(false);
    if (firstLost >= 0)
      assert.ok(
        kept.slice(firstLost).every((x) => !x),
        `seed ${seed}: a prefix survives, not ${kept}`,
      );
  }
});

test("a batch survives whole or not at all; operations of a crashed process never settle", async () => {
  let completions: (() => void)[] = [];
  const disk = new CrashDb({ schedule: (f) => completions.push(f) });
  const db = disk.open();
  let settled = false;
  void db.batch([put("x", "1"), put("y", "1")], false).then(() => {
    settled = true;
  });
  disk.crash(seededRandom(3));
  for (const f of completions) f();
  completions = [];
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, "the dead process's write never answers");
  const after = disk.open();
  const read = (key: string) => {
    const p = after.get(k(key));
    for (const f of completions) f();
    completions = [];
    return p;
  };
  const [x, y] = [await read("x"), await read("y")];
  assert.equal(x === undefined, y === undefined, "both keys of the batch, or neither");
});

test("a range delete is chunked, as the binding's: a crash can leave it half done", async () => {
  let halfDone = false;
  for (let seed = 1; seed <= 30 && !halfDone; seed++) {
    const disk = new CrashDb({ clearChunk: 2 });
    const db = disk.open();
    await db.batch(
      Array.from({ length: 10 }, (_, i) => put(`r${i}`, "1")),
      true,
    );
    await db.clear({ gte: k("r"), lt: k("s") });
    disk.crash(seededRandom(seed));
    const rows = disk.visibleRows({ gte: k("r"), lt: k("s") }).length;
    assert.ok(rows === 0 || rows % 2 === 0, `seed ${seed}: whole chunks only (${rows} left)`);
    if (rows > 0 && rows < 10) halfDone = true;
  }
  assert.ok(halfDone, "some seed leaves the range half cleared");
});
