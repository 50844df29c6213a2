import type { StoredMessage } from "../engine/message.js";
import type { DedupChanges, DedupRecord, MetadataStorePort, PartitionLogPort } from "../engine/ports.js";
import type { GroupId } from "../raft/types.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { type BatchOp, type Db, scan } from "./db.js";
import { groupKey, groupOf, indexedKey, indexOf, metadataKey, Prefix, prefixRange } from "./keys.js";
import {
  type Counters,
  type DecodedImage,
  decodeDedupRow,
  decodeImage,
  encodeDedupRow,
  encodeImage,
} from "./partition-image.js";

/** Dedup rows: their own range (keys.ts), so retention never takes an id out of the window. */
const dedupPrefix = Prefix.Dedup;

const fresh = (): Counters => ({ first: 0, next: 0, applied: 0, lastTs: 0, bytes: 0, total: 0 });

const countersOp = (groupId: GroupId, c: Counters): BatchOp => ({
  type: "put",
  key: groupKey(Prefix.Partition, groupId),
  value: Buffer.from(JSON.stringify(c)),
});

/** Every key of one prefix and group, from `from` (an offset) up to, not including, `until`. */
const groupRange = (prefix: Prefix, groupId: GroupId, from = 0, until?: number) => ({
  gte: indexedKey(prefix, groupId, from),
  lt: until === undefined ? indexedKey(prefix, groupId + 1, 0) : indexedKey(prefix, groupId, until),
});

const dedupOps = (groupId: GroupId, d: DedupChanges | undefined): BatchOp[] =>
  d
    ? [
        ...d.drop.map((offset): BatchOp => ({ type: "del", key: indexedKey(dedupPrefix, groupId, offset) })),
        ...d.put.map(
          (r): BatchOp => ({
            type: "put",
            key: indexedKey(dedupPrefix, groupId, r.offset),
            value: encodeDedupRow(r),
          }),
        ),
      ]
    : [];

/** An index row: the message's timestamp and the body bytes of all messages before it. */
function indexRow(timestampMicros: number, bytesBefore: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeDoubleBE(timestampMicros, 0);
  b.writeDoubleBE(bytesBefore, 8);
  return b;
}

/**
 * Topic partitions' messages, keyed by (group, offset): the data groups' state machines write here
 * as they apply. Writes are not synced: the Raft log is the durable copy, and a node replays from
 * the applied index it finds here after a crash. So that a replay always starts from a state some
 * prefix of the log produced, every apply step is ONE batch carrying its messages, dedup rows and
 * counters (the applied index among them); see docs/storage.md.
 */
export class PartitionStore implements PartitionLogPort, MetadataStorePort {
  private readonly counters = new Map<GroupId, Counters>();
  /** Per group, the apply batch being written while its counters are already visible (appendApplied). */
  private readonly writing = new Map<GroupId, Promise<void>>();
  /** Per group, the tail of its queue of writers (see `exclusive`). */
  private readonly queues = new Map<GroupId, Promise<unknown>>();
  /** Exports reading a group's message rows now: deletions of rows wait for them (see exportImage). */
  private readonly exports = new Map<GroupId, Set<Promise<unknown>>>();
  /** Groups whose retention deletion waits for an export to finish. */
  private readonly deferredGc = new Set<GroupId>();

  private constructor(private readonly db: Db) {}

  static async open(db: Db): Promise<PartitionStore> {
    const store = new PartitionStore(db);
    for await (const [k, v] of scan(db, prefixRange(Prefix.Partition))) {
      store.counters.set(groupOf(k), JSON.parse(v.toString("utf8")) as Counters);
    }
    for (const [groupId, c] of store.counters) {
      if (c.total === undefined) await store.buildIndex(groupId, c);
      // A crash may have stopped a retention's deletion part-way: finish it.
      await store.collectGarbage(groupId, c.first);
    }
    return store;
  }

  /** Data written before the message index existed gets its rows once, at open. */
  private async buildIndex(groupId: GroupId, c: Counters): Promise<void> {
    let before = 0;
    let ops: BatchOp[] = [];
    for await (const [k, v] of scan(this.db, groupRange(Prefix.Data, groupId, c.first, c.next))) {
      const m = decodeMessage(indexOf(k), Buffer.from(v));
      ops.push({
        type: "put",
        key: indexedKey(Prefix.MessageIndex, groupId, m.offset),
        value: indexRow(m.timestampMicros, before),
      });
      before += m.body.byteLength;
      if (ops.length >= 1024) {
        await this.db.batch(ops, false);
        ops = [];
      }
    }
    c.total = before;
    c.bytes = before;
    ops.push(countersOp(groupId, c));
    await this.db.batch(ops, false);
  }

  private c(groupId: GroupId): Counters {
    let c = this.counters.get(groupId);
    if (!c) {
      c = fresh();
      this.counters.set(groupId, c);
    }
    return c;
  }

  /** Runs `work` after every earlier writer of the group has finished: one state change at a time. */
  private exclusive<T>(groupId: GroupId, work: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(groupId) ?? Promise.resolve()).then(work);
    const tail = run.catch(() => undefined);
    this.queues.set(groupId, tail);
    void tail.then(() => {
      if (this.queues.get(groupId) === tail) this.queues.delete(groupId);
    });
    return run;
  }

  appendApplied(
    groupId: GroupId,
    messages: StoredMessage[],
    appliedIndex: number,
    dedup?: DedupChanges,
    onVisible?: () => void,
  ): Promise<void> {
    return this.exclusive(groupId, async () => {
      const before = this.c(groupId);
      const c = { ...before };
      const ops: BatchOp[] = [];
      for (const m of messages) {
        ops.push({ type: "put", key: indexedKey(Prefix.Data, groupId, m.offset), value: encodeMessage(m) });
        ops.push({
          type: "put",
          key: indexedKey(Prefix.MessageIndex, groupId, m.offset),
          value: indexRow(m.timestampMicros, c.total ?? 0),
        });
        c.total = (c.total ?? 0) + m.body.byteLength;
        c.bytes += m.body.byteLength;
        c.next = m.offset + 1;
        c.lastTs = m.timestampMicros;
      }
      c.applied = appliedIndex;
      ops.push(...dedupOps(groupId, dedup), countersOp(groupId, c));
      // The new counters are visible while the batch is written (an unsynced RocksDB write is a
      // thread-pool round trip, 0.1-0.5 ms): every read that touches rows waits for it first
      // (rowsWritten), so what a reader is shown is there. The caller acknowledges from onVisible.
      const written = this.db.batch(ops, false);
      this.counters.set(groupId, c);
      this.writing.set(groupId, written);
      onVisible?.();
      try {
        await written;
      } catch (err) {
        // Nothing of the batch is stored: readers go back to what is (the apply fails the node).
        if (this.counters.get(groupId) === c) this.counters.set(groupId, before);
        throw err;
      } finally {
        if (this.writing.get(groupId) === written) this.writing.delete(groupId);
      }
    });
  }

  /** True while an apply batch of the group is written with its counters visible already. */
  rowsPending(groupId: GroupId): boolean {
    return this.writing.has(groupId);
  }

  /** Resolves once the group's apply write in flight, if any, has settled (ok or not). */
  private async rowsWritten(groupId: GroupId): Promise<void> {
    const written = this.writing.get(groupId);
    if (written) await written.catch(() => undefined);
  }

  async read(
    groupId: GroupId,
    fromOffset: number,
    maxMessages: number,
    maxBytes: number,
  ): Promise<StoredMessage[]> {
    await this.rowsWritten(groupId);
    const c = this.c(groupId);
    const from = Math.max(fromOffset, c.first);
    if (from >= c.next) return [];
    const it = this.db.iterator({ ...groupRange(Prefix.Data, groupId, from, c.next), limit: maxMessages });
    try {
      // Row by row, so a batch of large messages stops at maxBytes instead of loading maxMessages.
      const out: StoredMessage[] = [];
      let bytes = 0;
      while (out.length < maxMessages) {
        const [row] = await it.nextv(1);
        if (!row) break;
        const m = decodeMessage(indexOf(row[0]), row[1]);
        out.push(m);
        bytes += m.body.byteLength;
        if (bytes >= maxBytes) break;
      }
      return out;
    } finally {
      await it.close();
    }
  }

  firstOffset(groupId: GroupId): number {
    return this.c(groupId).first;
  }

  nextOffset(groupId: GroupId): number {
    return this.c(groupId).next;
  }

  appliedIndex(groupId: GroupId): number {
    return this.c(groupId).applied;
  }

  lastTimestamp(groupId: GroupId): number {
    return this.c(groupId).lastTs;
  }

  retainedBytes(groupId: GroupId): number {
    return this.c(groupId).bytes;
  }

  /** One message's index row; undefined past the end. */
  private async row(groupId: GroupId, offset: number): Promise<{ ts: number; before: number } | undefined> {
    await this.rowsWritten(groupId);
    const v = await this.db.get(indexedKey(Prefix.MessageIndex, groupId, offset));
    return v ? { ts: v.readDoubleBE(0), before: v.readDoubleBE(8) } : undefined;
  }

  /** Smallest offset in [first, next] for which `pass` holds (it must hold for every later offset too). */
  private async search(
    groupId: GroupId,
    pass: (r: { ts: number; before: number }) => boolean,
  ): Promise<number> {
    const c = this.c(groupId);
    let lo = c.first;
    let hi = c.next;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const r = await this.row(groupId, mid);
      if (r && pass(r)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  async timestampOf(groupId: GroupId, offset: number): Promise<number | undefined> {
    return offset < this.c(groupId).first ? undefined : (await this.row(groupId, offset))?.ts;
  }

  /** Binary search over the index: timestamps never decrease within a partition. */
  async offsetForTimestamp(groupId: GroupId, timestampMicros: number): Promise<number> {
    return this.search(groupId, (r) => r.ts >= timestampMicros);
  }

  async offsetWithinBytes(groupId: GroupId, maxBytes: number): Promise<number> {
    const c = this.c(groupId);
    if (c.bytes <= maxBytes) return c.first;
    const total = c.total ?? 0;
    return this.search(groupId, (r) => total - r.before <= maxBytes);
  }

  async dedupWindow(groupId: GroupId): Promise<DedupRecord[]> {
    await this.rowsWritten(groupId);
    const out: DedupRecord[] = [];
    for await (const [k, v] of scan(this.db, groupRange(dedupPrefix, groupId)))
      out.push(decodeDedupRow(indexOf(k), v));
    return out;
  }

  retain(groupId: GroupId, first: number, appliedIndex: number): Promise<number> {
    return this.exclusive(groupId, async () => {
      const c = { ...this.c(groupId) };
      const until = Math.min(Math.max(first, c.first), c.next);
      const at = until < c.next ? await this.row(groupId, until) : undefined;
      // What stays is everything from `until` on: the total minus the bytes before it.
      const remaining = at ? (c.total ?? 0) - at.before : 0;
      const freed = Math.max(0, c.bytes - remaining);
      c.first = until;
      c.bytes -= freed;
      c.applied = appliedIndex;
      // The outcome is one batch: a crash before it replays the entry over the same rows, after it
      // skips the entry; reads and searches ignore rows below `first` from here on.
      await this.db.batch([countersOp(groupId, c)], false);
      this.counters.set(groupId, c);
      // An export still reading rows below the new first offset gets them: deletion waits for it.
      if (this.exports.get(groupId)?.size) this.deferredGc.add(groupId);
      else await this.collectGarbage(groupId, until);
      return freed;
    });
  }

  /** Deletes message and index rows below `first`: idempotent, so a crash part-way is finished at open. */
  private async collectGarbage(groupId: GroupId, first: number): Promise<void> {
    if (first === 0) return;
    const data = groupRange(Prefix.Data, groupId, 0, first);
    await this.db.clear(data);
    await this.db.clear(groupRange(Prefix.MessageIndex, groupId, 0, first));
    // Give the space back now rather than when later writes happen to compact this range.
    void this.db.compactRange(data.gte, data.lt).catch(() => undefined);
  }

  /**
   * The partition as one image (Raft snapshot data): format 1 of partition-image.ts. Counters and
   * dedup rows are read between two writes, so they describe one state; the messages are read
   * after that without holding up apply: appends only add rows above the counters' `next`, and row
   * deletions (retention's, an import's) wait until the export is done.
   */
  exportImage(groupId: GroupId): Promise<Uint8Array> {
    const image = this.exclusive(groupId, async () => ({
      counters: { ...this.c(groupId) },
      dedup: await this.dedupWindow(groupId),
    })).then(async ({ counters, dedup }) => {
      const messages: DecodedImage["messages"] = [];
      for await (const [k, v] of scan(
        this.db,
        groupRange(Prefix.Data, groupId, counters.first, counters.next),
      ))
        messages.push({ offset: indexOf(k), record: Buffer.from(v) });
      return encodeImage({ counters, dedup, messages });
    });
    const exports = this.exports.get(groupId) ?? new Set();
    this.exports.set(groupId, exports);
    exports.add(image);
    const done = () => {
      exports.delete(image);
      if (exports.size > 0 || !this.deferredGc.delete(groupId)) return;
      // Garbage: if this fails the next open collects it.
      void this.exclusive(groupId, async () => {
        if (this.exports.get(groupId)?.size) this.deferredGc.add(groupId);
        else await this.collectGarbage(groupId, this.c(groupId).first);
      }).catch(() => undefined);
    };
    void image.then(done, done);
    return image;
  }

  /**
   * Replaces the partition with an image from exportImage (a snapshot from the leader) in ONE
   * batch: every row of the group the image does not have is deleted in it, so a crash leaves
   * either the old partition whole or the new one whole, never an empty or mixed one.
   */
  importImage(groupId: GroupId, image: Uint8Array, appliedIndex: number): Promise<void> {
    return this.exclusive(groupId, async () => {
      // An export of this group still reading rows must get them before they are replaced.
      await Promise.allSettled([...(this.exports.get(groupId) ?? [])]);
      const decoded = decodeImage(image);
      const c: Counters = { ...decoded.counters };
      // The image's own applied index when it is ahead of the snapshot's (an export may include
      // entries applied after the snapshot point was read: replaying them would store them twice);
      // the snapshot's otherwise (the entries between are ones the partition never sees: conf
      // changes, a new leader's empty entry). Format 0 wrote its header apart from its messages, so
      // only the snapshot's index is used for it, as the old importer did.
      c.applied =
        decoded.formatVersion === 0 ? appliedIndex : Math.max(decoded.counters.applied, appliedIndex);
      c.total ??= c.bytes;
      const puts = new Map<string, Buffer>();
      const put = (key: Buffer, value: Buffer) => puts.set(key.toString("hex"), value);
      let before = c.total - c.bytes;
      for (const { offset, record } of decoded.messages) {
        const m = decodeMessage(offset, record);
        put(indexedKey(Prefix.Data, groupId, offset), record);
        put(indexedKey(Prefix.MessageIndex, groupId, offset), indexRow(m.timestampMicros, before));
        before += m.body.byteLength;
      }
      for (const r of decoded.dedup) put(indexedKey(dedupPrefix, groupId, r.offset), encodeDedupRow(r));
      const ops: BatchOp[] = [];
      for (const prefix of [Prefix.Data, Prefix.MessageIndex, dedupPrefix])
        for await (const [k] of scan(this.db, groupRange(prefix, groupId)))
          if (!puts.has(k.toString("hex"))) ops.push({ type: "del", key: Buffer.from(k) });
      for (const [key, value] of puts) ops.push({ type: "put", key: Buffer.from(key, "hex"), value });
      ops.push(countersOp(groupId, c));
      await this.db.batch(ops, false);
      this.counters.set(groupId, c);
    });
  }

  dropGroup(groupId: GroupId): Promise<void> {
    return this.exclusive(groupId, async () => {
      this.counters.delete(groupId);
      // The counters go first: rows left by a crash after them are overwritten or deleted by
      // whatever the group holds next (appends, an image import).
      await this.db.batch([{ type: "del", key: groupKey(Prefix.Partition, groupId) }], false);
      for (const prefix of [Prefix.Data, Prefix.MessageIndex, dedupPrefix])
        await this.db.clear(groupRange(prefix, groupId));
    });
  }

  async loadMetadata(): Promise<{ image: Uint8Array; appliedIndex: number } | undefined> {
    const v = await this.db.get(metadataKey);
    if (!v) return undefined;
    return { appliedIndex: v.readDoubleBE(0), image: v.subarray(8) };
  }

  async saveMetadata(image: Uint8Array, appliedIndex: number): Promise<void> {
    const v = Buffer.allocUnsafe(8 + image.byteLength);
    v.writeDoubleBE(appliedIndex, 0);
    v.set(image, 8);
    await this.db.batch([{ type: "put", key: metadataKey, value: v }], false);
  }
}
