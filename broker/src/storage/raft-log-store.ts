import type { LogStorePort } from "../engine/ports.js";
import { SnapshotTemporarilyUnavailableError } from "../raft/errors.js";
import { MemoryStorage } from "../raft/memory-storage.js";
import type { PersistUpdate } from "../raft/ready-loop.js";
import type { ConfState, Entry, GroupId, HardState, Snapshot, SnapshotMetadata } from "../raft/types.js";
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState } from "./codec.js";
import { type BatchOp, type Db, scan } from "./db.js";
import { encodeMark, type LogHole, loadDbMark } from "./durability-mark.js";
import { durableMarkKey, groupKey, groupOf, indexedKey, indexOf, Prefix, prefixRange } from "./keys.js";

/**
 * A group's log window. Its snapshot is the state machine's image, built asynchronously when Raft
 * first asks for one (Raft retries meanwhile) and reused until compaction passes it.
 */
class GroupWindow extends MemoryStorage {
  builder: (() => Promise<Snapshot>) | undefined;
  private cached: Snapshot | undefined;
  private building: Promise<void> | undefined;

  override snapshot(): Snapshot {
    if (!this.builder) return super.snapshot();
    if (this.cached && this.cached.metadata.index >= this.firstIndex() - 1) return this.cached;
    if (!this.building) {
      this.building = this.builder()
        .then((s) => {
          this.cached = s;
        })
        .catch(() => {})
        .finally(() => {
          this.building = undefined;
        });
    }
    throw new SnapshotTemporarilyUnavailableError();
  }
}

export interface LogStoreOptions {
  /** Test only: delay every synced write by this much, to simulate a slow disk. */
  slowSyncMs?: number;
  /** Test only: make synced writes fail as a full disk would. */
  failWrites?: () => boolean;
  onSync?: (seconds: number, entries: number) => void;
  /** After each synced batch: how many the database now holds (durability-mark.ts). */
  onDurable?: (syncedBatches: number) => void;
}

const done: Promise<void> = Promise.resolve();

/**
 * Every group's Raft log, hard state and snapshot metadata in RocksDB, with the log since the last
 * compaction mirrored in memory for the core's synchronous reads. `persist` resolves only once a
 * synced (fsync) write batch holds the update; all updates that arrive while one sync is in flight,
 * from any group, share the next one (group commit). An update with `mustSync: false` (a hard state
 * that only moved the commit index) resolves at once: its row joins the pending batch, in order,
 * and is written by the next batch, synced or not (docs/raft.md, "The write path").
 */
export class RaftLogStore implements LogStorePort {
  private readonly windows = new Map<GroupId, GroupWindow>();
  /** Per group, the highest log index that may have a key on disk (stale keys beyond the log included). */
  private readonly diskLast = new Map<GroupId, number>();
  private pendingOps: BatchOp[] = [];
  private pendingEntries = 0;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private writing = false;
  /** A failed write that nobody waited for (an unsynced one): the next persist reports it. */
  private failure: Error | undefined;
  /** Counters for tests and metrics: synced write batches, unsynced ones, persist calls. */
  syncs = 0;
  unsyncedWrites = 0;
  persists = 0;
  /** Synced batches the database holds, this run's and every earlier one's (its durability mark). */
  syncedBatches = 0;
  /**
   * Per group with a hole in its log: the last index loaded before it, and the first key after it.
   * No write path leaves one (snapshots and conflicting appends delete the tail in the same synced
   * batch, compaction and drops clear from the bottom up): RocksDB skipped a corrupt WAL block.
   */
  readonly holes = new Map<GroupId, LogHole>();

  private constructor(
    private readonly db: Db,
    private readonly options: LogStoreOptions,
  ) {}

  static async open(db: Db, options: LogStoreOptions = {}): Promise<RaftLogStore> {
    const store = new RaftLogStore(db, options);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    this.syncedBatches = await loadDbMark(this.db);
    const snapshots = new Map<GroupId, SnapshotMetadata>();
    for await (const [k, v] of scan(this.db, prefixRange(Prefix.Snapshot))) {
      snapshots.set(groupOf(k), JSON.parse(v.toString("utf8")) as SnapshotMetadata);
    }
    const hardStates = new Map<GroupId, HardState>();
    for await (const [k, v] of scan(this.db, prefixRange(Prefix.HardState)))
      hardStates.set(groupOf(k), decodeHardState(v));
    const entries = new Map<GroupId, Entry[]>();
    /** Groups with a replaced tail from an older build (terms going down): keys after it are that tail. */
    const staleTail = new Set<GroupId>();
    for await (const [k, v] of scan(this.db, prefixRange(Prefix.Log))) {
      const group = groupOf(k);
      const index = indexOf(k);
      this.noteOnDisk(group, index);
      const snapshot = snapshots.get(group);
      if (index <= (snapshot?.index ?? 0)) continue;
      let list = entries.get(group);
      if (!list) {
        list = [];
        entries.set(group, list);
      }
      // The log is what follows the snapshot contiguously with terms that never decrease. Anything
      // else is a tail a snapshot replaced (written before snapshots deleted it, see persist): kept,
      // it could make this node look less up to date than it is and grant a vote it must refuse.
      const last = list.at(-1);
      const expected = (last?.index ?? snapshot?.index ?? 0) + 1;
      if (index !== expected) {
        if (last && index > expected && !staleTail.has(group) && !this.holes.has(group))
          this.holes.set(group, { loadedTo: last.index, nextOnDisk: index });
        continue;
      }
      const entry = decodeEntry(index, Buffer.from(v));
      if (entry.term < (last?.term ?? snapshot?.term ?? 0)) {
        staleTail.add(group); // what follows it is that tail, not a hole
        continue;
      }
      list.push(entry);
    }
    const groups = new Set([...snapshots.keys(), ...hardStates.keys(), ...entries.keys()]);
    for (const group of groups) {
      const w = new GroupWindow();
      const snap = snapshots.get(group);
      if (snap) w.applySnapshot({ metadata: snap, data: new Uint8Array() });
      w.append(entries.get(group) ?? []);
      const hs = hardStates.get(group);
      if (hs) w.setHardState({ ...hs, commit: Math.min(hs.commit, w.lastIndex()) });
      this.windows.set(group, w);
    }
  }

  private noteOnDisk(groupId: GroupId, index: number): void {
    if (index > (this.diskLast.get(groupId) ?? 0)) this.diskLast.set(groupId, index);
  }

  /** Deletes, in the pending batch, every log key of the group in [from, the highest on disk]. */
  private deleteFrom(groupId: GroupId, from: number): void {
    const last = this.diskLast.get(groupId) ?? 0;
    for (let i = from; i <= last; i++)
      this.pendingOps.push({ type: "del", key: indexedKey(Prefix.Log, groupId, i) });
    if (from <= last) this.diskLast.set(groupId, from - 1);
  }

  groups(): GroupId[] {
    return [...this.windows.keys()];
  }

  open(groupId: GroupId, bootstrap: ConfState): MemoryStorage {
    const existing = this.windows.get(groupId);
    if (existing) return existing;
    const w = new GroupWindow();
    const seed = MemoryStorage.bootstrap(bootstrap);
    const entries = seed.entries(1, seed.lastIndex() + 1);
    const { hardState } = seed.initialState();
    w.append(entries);
    w.setHardState(hardState);
    this.windows.set(groupId, w);
    // The bootstrap entries are the same on every initial member, so losing them before this
    // write syncs is harmless: a restart writes the same ones again.
    for (const e of entries) {
      this.noteOnDisk(groupId, e.index);
      this.pendingOps.push({
        type: "put",
        key: indexedKey(Prefix.Log, groupId, e.index),
        value: encodeEntry(e),
      });
    }
    this.pendingOps.push({
      type: "put",
      key: groupKey(Prefix.HardState, groupId),
      value: encodeHardState(hardState),
    });
    return w;
  }

  /** How to build a snapshot of the group's state machine when a follower needs one. */
  setSnapshotBuilder(groupId: GroupId, builder: () => Promise<Snapshot>): void {
    const w = this.windows.get(groupId);
    if (w) w.builder = builder;
  }

  persist(groupId: GroupId, update: PersistUpdate): Promise<void> {
    const w = this.windows.get(groupId);
    if (!w) return Promise.reject(new Error(`group ${groupId} is not open`));
    if (this.failure) return Promise.reject(this.failure);
    this.persists++;
    if (update.snapshot) {
      const meta = update.snapshot.metadata;
      w.applySnapshot({ metadata: meta, data: new Uint8Array() });
      this.pendingOps.push({
        type: "put",
        key: groupKey(Prefix.Snapshot, groupId),
        value: Buffer.from(JSON.stringify(meta)),
      });
      // The snapshot replaces the whole log: a tail past it must not come back at the next start,
      // so its keys go in this same synced batch (the keys below it are ignored at load and cleared
      // by the next compaction).
      this.deleteFrom(groupId, meta.index + 1);
    }
    if (update.entries.length > 0) {
      w.append(update.entries);
      const newLast = w.lastIndex();
      // A conflicting tail was replaced: its keys beyond the new end go too (before the puts, so a
      // key both deleted and written ends written: a batch applies in order).
      this.deleteFrom(groupId, newLast + 1);
      for (const e of update.entries) {
        this.pendingOps.push({
          type: "put",
          key: indexedKey(Prefix.Log, groupId, e.index),
          value: encodeEntry(e),
        });
      }
      this.noteOnDisk(groupId, newLast);
      this.pendingEntries += update.entries.length;
    }
    if (update.hardState) {
      w.setHardState(update.hardState);
      this.pendingOps.push({
        type: "put",
        key: groupKey(Prefix.HardState, groupId),
        value: encodeHardState(update.hardState),
      });
    }
    const mustSync = update.mustSync !== false || update.entries.length > 0 || update.snapshot !== undefined;
    if (!mustSync) {
      if (!this.writing) void this.write();
      return done;
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.writing) void this.write();
    });
  }

  /**
   * Writes the pending batch, one at a time, in order: synced when someone waits for it, else
   * without a sync (only commit-only hard states, or bootstrap rows, are pending then).
   */
  private async write(): Promise<void> {
    this.writing = true;
    while (this.waiters.length > 0 || this.pendingOps.length > 0) {
      const ops = this.pendingOps;
      const waiters = this.waiters;
      const entries = this.pendingEntries;
      const sync = waiters.length > 0;
      this.pendingOps = [];
      this.waiters = [];
      this.pendingEntries = 0;
      const started = process.hrtime.bigint();
      try {
        if (this.options.failWrites?.()) throw new Error("no space left on device (injected)");
        if (sync && this.options.slowSyncMs) await new Promise((r) => setTimeout(r, this.options.slowSyncMs));
        // Every synced batch carries the count it makes, so a database that lost one is short.
        const count = this.syncedBatches + 1;
        if (sync) ops.push({ type: "put", key: durableMarkKey, value: Buffer.from(encodeMark(count)) });
        await this.db.batch(ops, sync);
        if (sync) {
          this.syncedBatches = count;
          this.syncs++;
          this.options.onDurable?.(count);
          this.options.onSync?.(Number(process.hrtime.bigint() - started) / 1e9, entries);
        } else this.unsyncedWrites++;
        for (const w of waiters) w.resolve();
      } catch (err) {
        if (!sync) this.failure = err as Error;
        for (const w of waiters) w.reject(err as Error);
      }
    }
    this.writing = false;
  }

  /**
   * Drops entries up to and including index (applied ones only), from memory and disk. The
   * configuration at that point is recorded as the snapshot point, so a restart rebuilds membership
   * from it plus the entries after it.
   */
  async compact(groupId: GroupId, index: number, confState: ConfState): Promise<void> {
    const w = this.windows.get(groupId);
    if (!w || index < w.firstIndex()) return;
    const meta: SnapshotMetadata = { index, term: w.term(index), confState };
    w.createSnapshot(index, confState, new Uint8Array());
    w.compact(index);
    await this.db.batch(
      [{ type: "put", key: groupKey(Prefix.Snapshot, groupId), value: Buffer.from(JSON.stringify(meta)) }],
      false,
    );
    await this.db.clear({
      gte: indexedKey(Prefix.Log, groupId, 0),
      lt: indexedKey(Prefix.Log, groupId, index + 1),
    });
  }

  /** Forgets a group entirely (its topic was deleted or it moved away). */
  async drop(groupId: GroupId): Promise<void> {
    this.windows.delete(groupId);
    this.diskLast.delete(groupId);
    await this.db.clear({
      gte: indexedKey(Prefix.Log, groupId, 0),
      lt: indexedKey(Prefix.Log, groupId + 1, 0),
    });
    await this.db.batch(
      [
        { type: "del", key: groupKey(Prefix.HardState, groupId) },
        { type: "del", key: groupKey(Prefix.Snapshot, groupId) },
      ],
      false,
    );
  }
}
