import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { StoredMessage } from "../../src/engine/message.js";
import { type Entry, EntryType } from "../../src/raft/types.js";
import { openDb } from "../../src/storage/db.js";
import { PartitionStore } from "../../src/storage/partition-store.js";
import { RaftLogStore } from "../../src/storage/raft-log-store.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "geobroker-storage-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const conf = { voters: ["a", "b", "c"], learners: [], votersOutgoing: [] };
const entry = (index: number, term: number, text: string): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(text),
});

test("persisted entries, hard state and bootstrap survive a reopen; a conflicting tail is replaced", async () => {
  const dir = tempDir();
  let db = await openDb(dir);
  let store = await RaftLogStore.open(db);
  const w = store.open(7, conf);
  assert.equal(w.lastIndex(), 3, "three bootstrap entries");
  await store.persist(7, {
    entries: [entry(4, 2, "x"), entry(5, 2, "y"), entry(6, 2, "z")],
    hardState: { term: 2, vote: "a", commit: 5 },
  });
  await store.persist(7, { entries: [entry(5, 3, "y2")] });
  await db.close();

  db = await openDb(dir);
  store = await RaftLogStore.open(db);
  assert.deepEqual(store.groups(), [7]);
  const r = store.open(7, { voters: [], learners: [], votersOutgoing: [] });
  assert.equal(r.lastIndex(), 5, "the stale entry 6 of the replaced tail is gone");
  assert.equal(new TextDecoder().decode(r.entries(5, 6)[0]!.data), "y2");
  assert.equal(r.term(4), 2);
  assert.deepEqual(r.initialState().hardState, { term: 2, vote: "a", commit: 5 });
  await db.close();
});

test("group commit: concurrent persists from many groups share synced batches", async () => {
  const db = await openDb(tempDir());
  const store = await RaftLogStore.open(db);
  for (let g = 1; g <= 20; g++) store.open(g, conf);
  const calls: Promise<void>[] = [];
  for (let round = 0; round < 10; round++) {
    for (let g = 1; g <= 20; g++)
      calls.push(store.persist(g, { entries: [entry(4 + round, 1, `r${round}`)] }));
  }
  await Promise.all(calls);
  assert.equal(store.persists, 200);
  assert.ok(store.syncs < 20, `200 persists took ${store.syncs} syncs`);
  await db.close();
});

test("compaction drops old entries from memory and disk and keeps the configuration", async () => {
  const dir = tempDir();
  let db = await openDb(dir);
  let store = await RaftLogStore.open(db);
  store.open(1, conf);
  const entries = Array.from({ length: 50 }, (_, i) => entry(4 + i, 1, `e${i}`));
  await store.persist(1, { entries, hardState: { term: 1, vote: "", commit: 53 } });
  await store.compact(1, 40, conf);
  const w = store.open(1, conf);
  assert.equal(w.firstIndex(), 41);
  await db.close();
  db = await openDb(dir);
  store = await RaftLogStore.open(db);
  const r = store.open(1, { voters: [], learners: [], votersOutgoing: [] });
  assert.equal(r.firstIndex(), 41);
  assert.equal(r.lastIndex(), 53);
  assert.deepEqual(r.initialState().confState.voters, ["a", "b", "c"]);
  await db.close();
});

test("a failing disk rejects the persist instead of acknowledging it", async () => {
  const db = await openDb(tempDir());
  const store = await RaftLogStore.open(db, { failWrites: () => true });
  store.open(1, conf);
  await assert.rejects(store.persist(1, { entries: [entry(4, 1, "x")] }), /no space left/);
  await db.close();
});

const message = (offset: number, ts: number, body: string): StoredMessage => ({
  offset,
  timestampMicros: ts,
  key: new Uint8Array(),
  body: new TextEncoder().encode(body),
  headers: offset % 2 === 0 ? { h: String(offset) } : {},
  messageId: "",
});

test("partition store: append, read, timestamp lookup, retention, image round trip, reopen", async () => {
  const dir = tempDir();
  let db = await openDb(dir);
  let store = await PartitionStore.open(db);
  await store.appendApplied(
    3,
    Array.from({ length: 100 }, (_, i) => message(i, 1000 + Math.floor(i / 10) * 10, `m${i}`)),
    42,
  );
  assert.equal(store.nextOffset(3), 100);
  assert.equal(store.appliedIndex(3), 42);
  const page = await store.read(3, 10, 5, 1 << 20);
  assert.deepEqual(
    page.map((m) => new TextDecoder().decode(m.body)),
    ["m10", "m11", "m12", "m13", "m14"],
  );
  assert.deepEqual(page[0]!.headers, { h: "10" });
  assert.equal(await store.offsetForTimestamp(3, 1055), 60);
  assert.equal(await store.offsetForTimestamp(3, 0), 0);
  assert.equal(await store.offsetForTimestamp(3, 99999), 100);
  assert.equal(await store.timestampOf(3, 55), 1050, "from the index row");
  // Bodies m0..m9 are 2 bytes, m10..m99 3 bytes (280 in all): the last 30 bytes are m90..m99.
  assert.equal(await store.offsetWithinBytes(3, 30), 90);
  assert.equal(await store.offsetWithinBytes(3, 1000), 0);
  const before = store.retainedBytes(3);
  const freed = await store.retain(3, 30, 43);
  assert.equal(freed, 10 * 2 + 20 * 3, "the bodies of m0..m29");
  assert.equal(store.firstOffset(3), 30);
  assert.equal(store.retainedBytes(3), before - freed);
  assert.equal(await store.timestampOf(3, 10), undefined, "deleted with its message");
  assert.equal((await store.read(3, 0, 1, 1 << 20))[0]!.offset, 30);
  const image = await store.exportImage(3);
  await store.importImage(9, image, 50);
  assert.equal(store.firstOffset(9), 30);
  assert.equal(store.nextOffset(9), 100);
  assert.equal(store.appliedIndex(9), 50);
  assert.equal(await store.offsetForTimestamp(9, 1055), 60, "an imported image comes with its index");
  assert.equal(await store.offsetWithinBytes(9, 30), 90);
  await store.saveMetadata(new TextEncoder().encode("{}"), 12);
  await db.close();
  db = await openDb(dir);
  store = await PartitionStore.open(db);
  assert.equal(store.nextOffset(9), 100);
  assert.equal((await store.read(9, 99, 1, 1 << 20))[0]!.offset, 99);
  assert.equal((await store.loadMetadata())?.appliedIndex, 12);
  await db.close();
});
