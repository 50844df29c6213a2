import assert from "node:assert/strict";
import { test } from "node:test";
import { CrashDb } from "../../src/storage/crash-db.js";
import type { BatchOp, Db } from "../../src/storage/db.js";
import { group, publishEntry, Replica } from "./partition-replica.js";

// The apply acknowledges its publishes once a read of this replica sees them, while their rows are
// still being written (docs/decisions/0070): the write is an unsynced copy of what the Raft log
// already holds on a majority, so the ack does not wait for its thread-pool round trip.

/** A Db whose unsynced write batches wait until `release` (or fail with `fail`). */
function heldWrites(db: Db) {
  const held: { go: () => void; stop: (e: Error) => void }[] = [];
  let holding = false;
  const wrapped: Db = {
    get: (k) => db.get(k),
    iterator: (r) => db.iterator(r),
    clear: (r) => db.clear(r),
    compactRange: (a, b) => db.compactRange(a, b),
    close: () => db.close(),
    batch: (ops: BatchOp[], sync: boolean) => {
      if (!holding) return db.batch(ops, sync);
      return new Promise<void>((resolve, reject) =>
        held.push({ go: () => db.batch(ops, sync).then(resolve, reject), stop: reject }),
      );
    },
  };
  return {
    wrapped,
    hold: () => {
      holding = true;
    },
    held: () => held.length,
    release: () => {
      holding = false;
      for (const h of held.splice(0)) h.go();
    },
    fail: (e: Error) => {
      holding = false;
      for (const h of held.splice(0)) h.stop(e);
    },
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const ids = (ms: { messageId: string }[]) => ms.map((m) => m.messageId);

test("an apply acknowledges while its rows are written; reads of rows wait for them", async () => {
  let gate!: ReturnType<typeof heldWrites>;
  const r = await Replica.open(new CrashDb(), undefined, (db) => {
    gate = heldWrites(db);
    return gate.wrapped;
  });
  await r.apply([publishEntry(1, 1000, ["a", "b"])]);
  gate.hold();
  let applied = false;
  const applying = r.apply([publishEntry(2, 2000, ["c", "d"])]).then(() => (applied = true));
  for (let i = 0; i < 5 && gate.held() === 0; i++) await turn();
  assert.equal(gate.held(), 1, "the apply's batch is being written");
  assert.deepEqual(r.results.get(2)?.offsets, [2, 3], "acknowledged before the write completed");
  assert.equal(applied, false, "the apply itself (and so the next one) still waits for the write");
  assert.equal(r.store.nextOffset(group), 4, "counters visible with the ack");
  assert.equal(r.store.appliedIndex(group), 2);
  let read: { messageId: string }[] | undefined;
  const reading = r.store.read(group, 0, 10, 1 << 20).then((m) => (read = m));
  let ts: number | undefined;
  const stamping = r.store.timestampOf(group, 3).then((t) => (ts = t));
  await turn();
  await turn();
  assert.equal(read, undefined, "a read of rows waits for the rows");
  assert.equal(ts, undefined, "a timestamp lookup waits for the index row");
  gate.release();
  await Promise.all([applying, reading, stamping]);
  assert.deepEqual(ids(read!), ["a", "b", "c", "d"], "the read sees what the ack named");
  assert.equal(ts, 2000);
});

test("a failed apply write takes the visible counters back and fails the apply", async () => {
  let gate!: ReturnType<typeof heldWrites>;
  const r = await Replica.open(new CrashDb(), undefined, (db) => {
    gate = heldWrites(db);
    return gate.wrapped;
  });
  await r.apply([publishEntry(1, 1000, ["a"])]);
  gate.hold();
  const applying = r.apply([publishEntry(2, 2000, ["b"])]);
  for (let i = 0; i < 5 && gate.held() === 0; i++) await turn();
  assert.equal(r.store.nextOffset(group), 2);
  const reading = r.store.read(group, 0, 10, 1 << 20);
  gate.fail(new Error("EIO (injected)"));
  await assert.rejects(applying, /EIO/);
  assert.equal(r.store.nextOffset(group), 1, "back to what is stored");
  assert.equal(r.store.appliedIndex(group), 1);
  assert.deepEqual(ids(await reading), ["a"], "a waiting read answers with what is stored");
});
