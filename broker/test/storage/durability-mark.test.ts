import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { BrokerError } from "../../src/engine/errors.js";
import { EntryType } from "../../src/raft/types.js";
import { encodeEntry } from "../../src/storage/codec.js";
import { openDb } from "../../src/storage/db.js";
import {
  checkDurability,
  checkLogHoles,
  DurabilityWitness,
  decodeMark,
  encodeMark,
  loadDbMark,
} from "../../src/storage/durability-mark.js";
import { indexedKey, indexOf, Prefix } from "../../src/storage/keys.js";
import { RaftLogStore } from "../../src/storage/raft-log-store.js";
import { projectRoot } from "../../src/util/project-root.js";

// RocksDB, as the binding opens it, recovers a truncated WAL or MANIFEST by going back to an older
// state without an error (the chaos suite's disk-corruption nemesis; docs/storage.md, "Lost synced
// writes"). The durability mark makes such a database refuse to start.

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const group = 7;
const conf = { voters: ["a"], learners: [], votersOutgoing: [] };

/** A data directory whose log store made `batches` synced batches, witnessed in its mark file. */
async function dataDir(batches: number, o: { flush?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "geobroker-durability-"));
  dirs.push(dir);
  const db = await openDb(join(dir, "rocksdb"), { memtableBudgetBytes: 1 << 20 });
  const markFile = join(dir, "durable-mark");
  const witness = new DurabilityWitness(markFile, 0);
  const store = await RaftLogStore.open(db, { onDurable: (n) => witness.confirm(n) });
  const w = store.open(group, conf);
  for (let i = 0; i < batches; i++) {
    const index = w.lastIndex() + 1;
    await store.persist(group, {
      entries: [{ index, term: 1, type: EntryType.Normal, data: new Uint8Array(400).fill(i % 251) }],
    });
  }
  if (o.flush) await db.compactRange(Buffer.from([0]), Buffer.from([0xff]));
  await witness.stop();
  await db.close();
  return { dir, markFile, rocks: join(dir, "rocksdb") };
}

const largest = (dir: string, pattern: RegExp) =>
  readdirSync(dir)
    .filter((f) => pattern.test(f))
    .map((f) => ({ path: join(dir, f), size: statSync(join(dir, f)).size }))
    .sort((a, b) => b.size - a.size)[0]!;

/** Opens the damaged database as the broker does; returns what the check said, and what RocksDB kept. */
async function reopen(d: { markFile: string; rocks: string }) {
  const db = await openDb(d.rocks, { memtableBudgetBytes: 1 << 20 });
  try {
    const kept = await loadDbMark(db);
    const refused = await checkDurability(db, d.markFile).then(
      () => undefined,
      (err: unknown) => err,
    );
    return { kept, refused };
  } finally {
    await db.close();
  }
}

const assertRefused = (err: unknown) => {
  assert.ok(err instanceof BrokerError, `refused with a BrokerError, got ${err}`);
  assert.equal(err.code, Code.DataLoss);
  assert.match(
    err.message,
    /storage lost synced writes: the database holds \d+ synced batches but 300 were confirmed/,
  );
  assert.match(err.message, /wipe the data directory/);
};

test("a WAL cut short: RocksDB opens an older state silently, the mark refuses it", async () => {
  const d = await dataDir(300);
  const wal = largest(d.rocks, /\.log$/);
  truncateSync(wal.path, Math.floor(wal.size * 0.6));
  const { kept, refused } = await reopen(d);
  assert.ok(kept < 300, `RocksDB kept ${kept} of 300 synced batches and opened without an error`);
  assertRefused(refused);
});

test("bytes flipped in the WAL: RocksDB skips the block and keeps what follows; the hole refuses it", async () => {
  const d = await dataDir(300);
  const wal = largest(d.rocks, /\.log$/);
  const bytes = readFileSync(wal.path);
  // Halfway into what was written (the file may be preallocated beyond it, with zeros).
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const at = Math.floor(end * 0.5);
  for (let i = at; i < at + 16; i++) bytes[i] = bytes[i]! ^ 0xff;
  writeFileSync(wal.path, bytes);
  const db = await openDb(d.rocks, { memtableBudgetBytes: 1 << 20 });
  try {
    // The later batches survived, the mark among them: only the log shows what is missing.
    await checkDurability(db, d.markFile);
    const store = await RaftLogStore.open(db);
    const hole = store.holes.get(group);
    assert.ok(
      hole && hole.loadedTo < 300 && hole.nextOnDisk > hole.loadedTo + 1,
      `a hole: ${JSON.stringify(hole)}`,
    );
    assert.ok(store.open(group, conf).lastIndex() < 301, "the store loaded the log only up to the hole");
    assert.throws(
      () => checkLogHoles(store),
      (err: unknown) =>
        err instanceof BrokerError &&
        err.code === Code.DataLoss &&
        /group 7 stops at index \d+ but holds entries from \d+ on/.test(err.message),
    );
  } finally {
    await db.close();
  }
});

test("a MANIFEST cut short after a flush: the same", async () => {
  const d = await dataDir(300, { flush: true });
  const manifest = largest(d.rocks, /^MANIFEST-/);
  truncateSync(manifest.path, Math.floor(manifest.size * 0.5));
  const { kept, refused } = await reopen(d);
  assert.ok(kept < 300, `RocksDB kept ${kept} of 300`);
  assertRefused(refused);
});

test("an intact directory, one from before marks, and a wiped one all start", async () => {
  const d = await dataDir(50);
  assert.deepEqual(await reopen(d), { kept: 50, refused: undefined });
  const db = await openDb(d.rocks);
  assert.equal((await RaftLogStore.open(db)).holes.size, 0, "an intact log has no hole");
  await db.close();
  assert.equal(decodeMark(readFileSync(d.markFile), d.markFile), 50, "the file holds the last count");
  rmSync(d.markFile);
  assert.deepEqual(await reopen(d), { kept: 50, refused: undefined }, "no mark file: nothing to hold it to");
  rmSync(d.rocks, { recursive: true });
  assert.equal(existsSync(d.markFile), false);
  assert.deepEqual(await reopen(d), { kept: 0, refused: undefined }, "an empty directory starts afresh");
});

test("the witness never writes a count the log store has not confirmed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "geobroker-durability-"));
  dirs.push(dir);
  const file = join(dir, "durable-mark");
  const w = new DurabilityWitness(file, 4);
  await w.flush();
  assert.equal(decodeMark(readFileSync(file), file), 4);
  w.confirm(9);
  w.confirm(6); // confirmations may arrive out of order: the highest counts
  await w.stop();
  assert.equal(decodeMark(readFileSync(file), file), 9);
});

test("durability mark: the committed version-1 fixture decodes, and the encoder still writes it", () => {
  const path = join(projectRoot(), "broker", "test", "fixtures", "durability-mark-v1.bin");
  if (process.env.GEOBROKER_WRITE_FIXTURES && !existsSync(path)) writeFileSync(path, encodeMark(123456789));
  const bytes = readFileSync(path);
  assert.equal(decodeMark(bytes, path), 123456789);
  assert.deepEqual(Buffer.from(encodeMark(123456789)), bytes);
  assert.throws(
    () => decodeMark(Uint8Array.from([0x08, 0x02]), "x"),
    /x has version 2; this build reads version 1/,
  );
});

test("holes: a gap with entries after it is one; a replaced tail from an older build (terms going down) is not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "geobroker-durability-"));
  dirs.push(dir);
  const db = await openDb(join(dir, "rocksdb"));
  const put = (index: number, term: number) => ({
    type: "put" as const,
    key: indexedKey(Prefix.Log, 1, index),
    value: encodeEntry({ index, term, type: EntryType.Normal, data: new Uint8Array(1) }),
  });
  // Group 1: 1-3 at term 2, then 5 (4 is missing). Group 2: 1-3 at term 2, 4 at term 1 (a stale
  // tail a snapshot replaced, as builds before the tail deletes left it), then 6.
  await db.batch([put(1, 2), put(2, 2), put(3, 2), put(5, 2)], true);
  const stale = [put(1, 2), put(2, 2), put(3, 2), put(4, 1), put(6, 1)].map((op) => ({
    ...op,
    key: indexedKey(Prefix.Log, 2, indexOf(op.key)),
  }));
  await db.batch(stale, true);
  const store = await RaftLogStore.open(db);
  assert.deepEqual([...store.holes], [[1, { loadedTo: 3, nextOnDisk: 5 }]]);
  await db.close();
});

test("a mark the disk cannot take (ENOSPC, EIO) is a storage failure reported once per failed write, never an unhandled rejection", async () => {
  // Found by the chaos suite's disk-full and disk-eio nemeses (seed 7): the witness's timer wrote
  // the mark unguarded, and a full disk crashed the process with an unhandled rejection.
  const dir = mkdtempSync(join(tmpdir(), "mark-fail-"));
  const failures: Error[] = [];
  const w = new DurabilityWitness(join(dir, "missing", "durable-mark"), 4, 1000, (err) => failures.push(err));
  try {
    w.confirm(5);
    await w.flush(); // resolves: the failure goes to the callback
    assert.equal(failures.length, 1);
    assert.match(failures[0]!.message, /ENOENT/);
    // The writer goes on: once the directory exists the next flush writes the mark.
    mkdirSync(join(dir, "missing"));
    await w.flush();
    assert.equal(failures.length, 1);
    assert.ok(existsSync(join(dir, "missing", "durable-mark")));
  } finally {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
