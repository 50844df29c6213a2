import type { BatchOp, Db, KvIterator } from "./db.js";

/**
 * A crash-faithful stand-in for the RocksDB wrapper (same `Db` interface), for tests and the
 * full-stack simulation. It models what a power loss leaves of a RocksDB database with its
 * write-ahead log on, the way this binding uses it:
 *
 * - every write batch goes to one ordered log (the WAL) when it completes, whole or not at all;
 * - a synced batch makes itself and every batch logged before it durable;
 * - a crash keeps every durable batch and a prefix (chosen by the caller's randomness) of the
 *   batches logged since the last sync; operations still in flight may or may not have been logged;
 * - `clear` is not one batch: the binding deletes the range in chunks of its own (about 16 KiB of
 *   keys each), so a crash can leave a range half cleared;
 * - reads see completed writes; an iterator reads a snapshot taken when it is created.
 *
 * Completion order is the caller's: `schedule` decides when (and so in which order) operations
 * finish, which is how a simulation reorders concurrent writes as RocksDB's thread pool may. After
 * `crash()`, nothing issued before it ever settles: the code that awaited it is dead, as a killed
 * process is. `open()` then hands out a fresh handle over what survived.
 */
export interface CrashDbOptions {
  /** Runs `complete` when the operation should finish; default: on a later turn of the event loop. */
  schedule?: (complete: () => void) => void;
  /** Keys per `clear` chunk (each chunk is its own unsynced batch). */
  clearChunk?: number;
  /** Test hook: called before each write batch is logged; throw to fail it (a full disk, EIO). */
  beforeWrite?: (ops: readonly BatchOp[], sync: boolean) => void;
}

type Rows = Map<string, Buffer>;

interface LoggedBatch {
  ops: { key: string; value: Buffer | undefined }[];
}

const hex = (b: Buffer) => b.toString("hex");

export class CrashDb {
  /** What survives any crash. */
  private durable: Rows = new Map();
  /** Batches logged since the last sync, oldest first: a crash keeps a prefix of them. */
  private unsynced: LoggedBatch[] = [];
  /** What reads see: durable + unsynced. */
  private visible: Rows = new Map();
  /** The keys of `visible`, sorted (hex order is byte order): range reads without a full sort. */
  private sortedKeys: string[] = [];
  /** Operations issued and not yet finished, for a crash to decide about. */
  private inFlight = new Set<{ batch?: LoggedBatch; sync: boolean }>();
  private epoch = 0;
  private readonly schedule: (complete: () => void) => void;
  private readonly clearChunk: number;
  /** Counters for tests: batches written, synced batches, crashes. */
  writes = 0;
  syncs = 0;
  crashes = 0;

  constructor(private readonly options: CrashDbOptions = {}) {
    this.schedule = options.schedule ?? ((f) => setImmediate(f));
    this.clearChunk = options.clearChunk ?? 64;
  }

  /** A handle over the current state; handles from before the last crash are dead. */
  open(): Db {
    const epoch = this.epoch;
    const alive = () => epoch === this.epoch;
    const later = <T>(work: () => T): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        this.schedule(() => {
          if (!alive()) return; // the process that asked is gone: never settle
          try {
            resolve(work());
          } catch (err) {
            reject(err);
          }
        });
      });
    const write = (ops: readonly BatchOp[], sync: boolean): Promise<void> => {
      const pending: { batch?: LoggedBatch; sync: boolean } = {
        batch: { ops: ops.map((o) => ({ key: hex(o.key), value: o.type === "put" ? o.value : undefined })) },
        sync,
      };
      this.inFlight.add(pending);
      return later(() => {
        this.inFlight.delete(pending);
        this.options.beforeWrite?.(ops, sync);
        this.log(pending.batch!, sync);
      });
    };
    return {
      get: (key) => later(() => this.visible.get(hex(key))),
      batch: (ops, sync) => write(ops, sync),
      iterator: (range) => this.iterator(range, later),
      clear: async (range) => {
        // Chunk by chunk, as the binding does: each chunk is logged on its own.
        for (;;) {
          const keys = await later(() => this.keysIn(range, this.clearChunk));
          if (keys.length === 0) return;
          await write(
            keys.map((k) => ({ type: "del" as const, key: Buffer.from(k, "hex") })),
            false,
          );
        }
      },
      compactRange: () => later(() => undefined),
      close: () => later(() => undefined),
    };
  }

  private log(batch: LoggedBatch, sync: boolean): void {
    this.writes++;
    this.unsynced.push(batch);
    for (const { key, value } of batch.ops) {
      if (value === undefined) {
        if (this.visible.delete(key)) this.sortedKeys.splice(this.lowerBound(key), 1);
      } else {
        if (!this.visible.has(key)) this.sortedKeys.splice(this.lowerBound(key), 0, key);
        this.visible.set(key, value);
      }
    }
    if (sync) {
      this.syncs++;
      this.makeDurable(this.unsynced.length);
    }
  }

  private makeDurable(count: number): void {
    for (const batch of this.unsynced.slice(0, count)) {
      for (const { key, value } of batch.ops) {
        if (value === undefined) this.durable.delete(key);
        else this.durable.set(key, value);
      }
    }
    this.unsynced = this.unsynced.slice(count);
  }

  /**
   * A power loss: in-flight writes are logged or not (each by a coin of `random`), then a prefix of
   * the unsynced log survives. Every handle opened before is dead from here on.
   */
  crash(random: () => number = Math.random): { keptUnsynced: number; lostUnsynced: number } {
    this.crashes++;
    this.epoch++;
    for (const pending of this.inFlight) {
      if (pending.batch && random() < 0.5) this.log(pending.batch, pending.sync);
    }
    this.inFlight.clear();
    const kept = Math.floor(random() * (this.unsynced.length + 1));
    const lost = this.unsynced.length - kept;
    this.makeDurable(kept);
    this.unsynced = [];
    this.resetVisible();
    return { keptUnsynced: kept, lostUnsynced: lost };
  }

  /** The disk is gone (a replaced volume): nothing survives. */
  wipe(): void {
    this.epoch++;
    this.inFlight.clear();
    this.durable = new Map();
    this.unsynced = [];
    this.resetVisible();
  }

  private resetVisible(): void {
    this.visible = new Map(this.durable);
    this.sortedKeys = [...this.visible.keys()].sort();
  }

  /** Index of the first sorted key >= key. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sortedKeys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sortedKeys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A value reads see now, for invariant checks. */
  visibleGet(key: Buffer): Buffer | undefined {
    return this.visible.get(hex(key));
  }

  /** A durable value (what any crash keeps), for invariant checks. */
  durableGet(key: Buffer): Buffer | undefined {
    return this.durable.get(hex(key));
  }

  /** Rows reads see now, for invariant checks. */
  visibleRows(range: { gte: Buffer; lt: Buffer }): [Buffer, Buffer][] {
    return this.rowsIn(range);
  }

  private rowsIn(range: { gte?: Buffer; lt?: Buffer }, limit = Number.POSITIVE_INFINITY): [Buffer, Buffer][] {
    const keys = this.keysFrom(range.gte ? hex(range.gte) : "", range.lt ? hex(range.lt) : undefined, limit);
    return keys.map((k) => [Buffer.from(k, "hex"), this.visible.get(k)!]);
  }

  private keysFrom(lo: string, hi: string | undefined, limit: number): string[] {
    const out: string[] = [];
    for (let i = this.lowerBound(lo); i < this.sortedKeys.length && out.length < limit; i++) {
      const k = this.sortedKeys[i]!;
      if (hi !== undefined && k >= hi) break;
      out.push(k);
    }
    return out;
  }

  private keysIn(range: { gte: Buffer; lt: Buffer }, limit: number): string[] {
    return this.keysFrom(hex(range.gte), hex(range.lt), limit);
  }

  private iterator(
    range: { gte?: Buffer; lt?: Buffer; limit?: number },
    later: <T>(work: () => T) => Promise<T>,
  ): KvIterator {
    let rows: [Buffer, Buffer][] | undefined;
    let at = 0;
    const limit = range.limit ?? Number.POSITIVE_INFINITY;
    return {
      nextv: (size) =>
        later(() => {
          // The snapshot is taken at the first read, as the binding creates its iterator lazily.
          rows ??= this.rowsIn(range, limit);
          const out = rows.slice(at, at + size);
          at += out.length;
          return out.map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as [Buffer, Buffer]);
        }),
      close: () => later(() => undefined),
    };
  }
}
