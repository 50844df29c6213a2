import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { type Entry, EntryType } from "../../src/raft/types.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { RaftLogStore } from "../../src/storage/raft-log-store.js";

const conf = { voters: ["a", "b", "c"], learners: [], votersOutgoing: [] };
const none = { voters: [], learners: [], votersOutgoing: [] };
const entry = (index: number, term: number): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(`${index}@${term}`),
});
const range = (from: number, to: number, term: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));

/** Terms along a reloaded log, checked to never decrease (the election restriction rests on it). */
function logTerms(store: RaftLogStore, group: number): number[] {
  const w = store.open(group, none);
  const terms = [w.term(w.firstIndex() - 1)];
  for (let i = w.firstIndex(); i <= w.lastIndex(); i++) terms.push(w.term(i));
  return terms;
}

// Issue 17, defect 4: persisting a snapshot replaced the log in memory but left the old tail's keys
// on disk, and load took any contiguous keys after the snapshot: the node came back with a stale
// tail of a lower term after its newer entries, and would grant a vote it must refuse.
test("a snapshot's persist deletes the tail it replaces: a reload never brings back stale entries", async () => {
  const disk = new CrashDb();
  let store = await RaftLogStore.open(disk.open());
  store.open(7, conf);
  await store.persist(7, { entries: range(4, 20, 2), hardState: { term: 2, vote: "a", commit: 6 } });
  // A leader of term 3 sends a snapshot at 8 (entries 9..20 of term 2 were never committed), then
  // one entry of its own term.
  await store.persist(7, {
    entries: [],
    snapshot: { metadata: { index: 8, term: 2, confState: conf }, data: new Uint8Array() },
    hardState: { term: 3, vote: "", commit: 8 },
  });
  await store.persist(7, { entries: [entry(9, 3)], hardState: { term: 3, vote: "", commit: 9 } });
  disk.crash(seededRandom(1));
  store = await RaftLogStore.open(disk.open());
  const w = store.open(7, none);
  assert.equal(w.lastIndex(), 9, "the log ends at the leader's entry, not at the stale 20");
  assert.equal(w.term(9), 3);
  const terms = logTerms(store, 7);
  assert.deepEqual(
    terms,
    [...terms].sort((a, b) => a - b),
    `terms along the log never decrease: ${terms}`,
  );
});

test("a data directory written before the fix: load stops at the first term that goes down", async () => {
  const disk = new CrashDb();
  let store = await RaftLogStore.open(disk.open());
  store.open(7, conf);
  await store.persist(7, { entries: range(4, 12, 2), hardState: { term: 2, vote: "a", commit: 5 } });
  // Simulate the old persist: a snapshot record and one newer entry, with the old tail left on disk.
  const db = disk.open();
  const { groupKey, indexedKey, Prefix } = await import("../../src/storage/keys.js");
  const { encodeEntry } = await import("../../src/storage/codec.js");
  await db.batch(
    [
      {
        type: "put",
        key: groupKey(Prefix.Snapshot, 7),
        value: Buffer.from(JSON.stringify({ index: 6, term: 2, confState: conf })),
      },
      { type: "put", key: indexedKey(Prefix.Log, 7, 7), value: encodeEntry(entry(7, 4)) },
    ],
    true,
  );
  store = await RaftLogStore.open(disk.open());
  const w = store.open(7, none);
  assert.equal(w.lastIndex(), 7, "entries 8..12 of term 2 after entry 7 of term 4 are a stale tail");
  // The next write of this group deletes the stale keys, so a later reload agrees.
  await store.persist(7, { entries: [entry(8, 4)], hardState: { term: 4, vote: "", commit: 8 } });
  store = await RaftLogStore.open(disk.open());
  assert.equal(store.open(7, none).lastIndex(), 8);
  assert.equal(store.open(7, none).term(8), 4);
});

test("a crash at any point of a snapshot's persist leaves either the old log or the snapshot, never a mix", async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const disk = new CrashDb();
    let store = await RaftLogStore.open(disk.open());
    store.open(3, conf);
    await store.persist(3, { entries: range(4, 15, 2), hardState: { term: 2, vote: "a", commit: 10 } });
    const persisting = store.persist(3, {
      entries: [entry(13, 3)],
      snapshot: { metadata: { index: 12, term: 2, confState: conf }, data: new Uint8Array() },
      hardState: { term: 3, vote: "", commit: 12 },
    });
    const rand = seededRandom(seed);
    // Crash before or after the write completes, on a coin.
    if (rand() < 0.5) await persisting;
    disk.crash(rand);
    store = await RaftLogStore.open(disk.open());
    const w = store.open(3, none);
    const snapshotIndex = w.firstIndex() - 1;
    if (snapshotIndex === 12) {
      assert.equal(w.lastIndex(), 13, `seed ${seed}: the snapshot came with its one entry`);
      assert.equal(w.term(13), 3, `seed ${seed}`);
    } else {
      assert.equal(snapshotIndex, 0, `seed ${seed}: no snapshot`);
      assert.equal(w.lastIndex(), 15, `seed ${seed}: the old log whole`);
    }
  }
});

// Issue 23: a hard state that only moved the commit index is written without an fsync (etcd's
// MustSync); it rides with the next synced batch, in order, and a crash before that may lose it.
test("a commit-only hard state is not synced: it resolves at once and the next synced batch carries it", async () => {
  const disk = new CrashDb();
  let store = await RaftLogStore.open(disk.open());
  store.open(5, conf);
  await store.persist(5, { entries: range(4, 6, 2), hardState: { term: 2, vote: "a", commit: 4 } });
  const syncs = disk.syncs;
  await store.persist(5, { entries: [], hardState: { term: 2, vote: "a", commit: 6 }, mustSync: false });
  assert.equal(disk.syncs, syncs, "no fsync for a commit-only hard state");
  assert.equal(store.syncs, 1);
  assert.equal(store.open(5, none).initialState().hardState.commit, 6, "memory has it at once");
  // The next synced persist (an entry) makes the commit index durable with it.
  await store.persist(5, { entries: [entry(7, 2)], mustSync: false });
  assert.equal(disk.syncs, syncs + 1, "entries are synced whatever the caller says");
  disk.crash(seededRandom(3));
  store = await RaftLogStore.open(disk.open());
  assert.deepEqual(store.open(5, none).initialState().hardState, { term: 2, vote: "a", commit: 6 });
  assert.equal(store.open(5, none).lastIndex(), 7);
});

test("a crash right after a commit-only hard state may lose the commit index, never an entry or a vote", async () => {
  const kept = new Set<number>();
  for (let seed = 1; seed <= 30; seed++) {
    const disk = new CrashDb();
    let store = await RaftLogStore.open(disk.open());
    store.open(5, conf);
    await store.persist(5, { entries: range(4, 9, 3), hardState: { term: 3, vote: "b", commit: 5 } });
    await store.persist(5, { entries: [], hardState: { term: 3, vote: "b", commit: 9 }, mustSync: false });
    const rand = seededRandom(seed);
    if (rand() < 0.5) await new Promise((r) => setImmediate(r)); // the unsynced write may be logged
    disk.crash(rand);
    store = await RaftLogStore.open(disk.open());
    const hs = store.open(5, none).initialState().hardState;
    assert.equal(hs.term, 3, `seed ${seed}`);
    assert.equal(hs.vote, "b", `seed ${seed}`);
    assert.ok(hs.commit === 5 || hs.commit === 9, `seed ${seed}: commit ${hs.commit}`);
    assert.equal(store.open(5, none).lastIndex(), 9, `seed ${seed}: every synced entry survives`);
    kept.add(hs.commit);
  }
  assert.deepEqual([...kept].sort(), [5, 9], "both outcomes occur over the seeds (the test can see a loss)");
});

test("an unsynced write that fails stops the store: the next persist reports the failure", async () => {
  let failing = false;
  const disk = new CrashDb({
    beforeWrite: () => {
      if (failing) throw new Error("EIO (injected)");
    },
  });
  const store = await RaftLogStore.open(disk.open());
  store.open(5, conf);
  await store.persist(5, { entries: range(4, 5, 1), hardState: { term: 1, vote: "a", commit: 4 } });
  failing = true;
  await store.persist(5, { entries: [], hardState: { term: 1, vote: "a", commit: 5 }, mustSync: false });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  failing = false;
  await assert.rejects(store.persist(5, { entries: [entry(6, 1)] }), /EIO \(injected\)/);
});
