import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { decodeConfChange } from "../../src/raft/raft-node.js";
import { CompactedError, type Entry, EntryType, UnavailableError } from "../../src/raft/types.js";

const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(text),
});

function storageWith(last: number, term = 1): MemoryStorage {
  const s = new MemoryStorage();
  s.append(Array.from({ length: last }, (_, i) => entry(i + 1, term)));
  return s;
}

test("an empty storage starts at index 1 with nothing in it", () => {
  const s = new MemoryStorage();
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(0), 0);
  assert.throws(() => s.term(1), UnavailableError);
  assert.deepEqual(s.initialState().hardState, { term: 0, vote: "", commit: 0 });
});

test("append replaces a conflicting tail and refuses a gap", () => {
  const s = storageWith(5);
  s.append([entry(4, 2, "x"), entry(5, 2, "y"), entry(6, 2, "z")]);
  assert.equal(s.lastIndex(), 6);
  assert.deepEqual(
    s.entries(1, 7).map((e) => e.term),
    [1, 1, 1, 2, 2, 2],
  );
  s.append([entry(3, 3)]);
  assert.equal(s.lastIndex(), 3, "everything after a rewritten entry is gone");
  assert.throws(() => s.append([entry(5, 3)]), /missing log entries/);
});

test("entries honours maxBytes but always returns at least one entry", () => {
  const s = storageWith(5); // 2 bytes each
  assert.equal(s.entries(1, 6, 4).length, 2);
  assert.equal(s.entries(1, 6, 1).length, 1);
  assert.equal(s.entries(1, 6).length, 5);
  assert.throws(() => s.entries(1, 7), UnavailableError);
});

test("compact drops the prefix but keeps the term of the compaction point", () => {
  const s = storageWith(10);
  s.append([entry(11, 2)]);
  s.compact(7);
  assert.equal(s.firstIndex(), 8);
  assert.equal(s.lastIndex(), 11);
  assert.equal(s.term(7), 1);
  assert.throws(() => s.term(6), CompactedError);
  assert.throws(() => s.entries(7, 9), CompactedError);
  assert.deepEqual(
    s.entries(8, 12).map((e) => e.index),
    [8, 9, 10, 11],
  );
  assert.throws(() => s.compact(12), UnavailableError);
  s.compact(5); // already compacted: nothing to do
  assert.equal(s.firstIndex(), 8);
  // Appending below the compaction point keeps only the part after it.
  s.append([entry(6, 1), entry(7, 1), entry(8, 3)]);
  assert.equal(s.lastIndex(), 8);
  assert.equal(s.term(8), 3);
});

test("createSnapshot records the state at an index; applySnapshot replaces the log", () => {
  const s = storageWith(10);
  const conf = { voters: ["a", "b", "c"], learners: [], votersOutgoing: [] };
  const snap = s.createSnapshot(8, conf, new Uint8Array([1, 2, 3]));
  assert.deepEqual(snap.metadata, { index: 8, term: 1, confState: conf });
  assert.equal(s.snapshot(), snap);
  assert.equal(s.createSnapshot(5, conf, new Uint8Array()), snap, "an older snapshot is not taken");
  assert.throws(() => s.createSnapshot(11, conf, new Uint8Array()), UnavailableError);
  assert.deepEqual(s.initialState().confState, conf);

  const follower = storageWith(3);
  follower.applySnapshot(snap);
  assert.equal(follower.firstIndex(), 9);
  assert.equal(follower.lastIndex(), 8);
  assert.equal(follower.term(8), 1);
  follower.applySnapshot({ ...snap, metadata: { ...snap.metadata, index: 4 } });
  assert.equal(follower.firstIndex(), 9, "an older snapshot is ignored");
});

test("bootstrap writes the initial members as committed configuration entries", () => {
  const s = MemoryStorage.bootstrap({ voters: ["c", "a", "b"], learners: ["l"], votersOutgoing: [] });
  assert.equal(s.lastIndex(), 4);
  assert.deepEqual(s.initialState().hardState, { term: 1, vote: "", commit: 4 });
  const changes = s.entries(1, 5).map((e) => {
    assert.equal(e.type, EntryType.ConfChange);
    return decodeConfChange(e.data);
  });
  assert.deepEqual(changes, [
    { type: "addVoter", nodeId: "a" },
    { type: "addVoter", nodeId: "b" },
    { type: "addVoter", nodeId: "c" },
    { type: "addLearner", nodeId: "l" },
  ]);
});
