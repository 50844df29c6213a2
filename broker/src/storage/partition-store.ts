import type { MetadataStorePort, PartitionLogPort, StoredMessage } from "../cluster/ports.js";
import type { GroupId } from "../raft/types.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { type BatchOp, type Db, scan } from "./db.js";
import { groupKey, groupOf, indexedKey, metadataKey, Prefix, prefixRange } from "./keys.js";

interface Counters {
  first: number;
  next: number;
  applied: number;
  lastTs: number;
  /** Body bytes retained. */
  bytes: number;
  /** Body bytes of every message ever appended (the index rows count from here). */
  total?: number;
}

const fresh = (): Counters => ({ first: 0, next: 0, applied: 0, lastTs: 0, bytes: 0, total: 0 });

const countersOp = (groupId: GroupId, c: Counters): BatchOp => ({
  type: "put",
  key: groupKey(Prefix.Partition, groupId),
  value: Buffer.from(JSON.stringify(c)),
});

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
 * the applied index it finds here after a crash.
 */
export class PartitionStore implements PartitionLogPort, MetadataStorePort {
  private readonly counters = new Map<GroupId, Counters>();

  private constructor(private readonly db: Db) {}

  static async open(db: Db): Promise<PartitionStore> {
    const store = new PartitionStore(db);
    for await (const [k, v] of scan(db, prefixRange(Prefix.Partition))) {
      store.counters.set(groupOf(k), JSON.parse(v.toString("utf8")) as Counters);
    }
    for (const [groupId, c] of store.counters) if (c.total === undefined) await store.buildIndex(groupId, c);
    return store;
  }

  /** Data written before the message index existed gets its rows once, at open. */
  private async buildIndex(groupId: GroupId, c: Counters): Promise<void> {
    let before = 0;
    let ops: BatchOp[] = [];
    for await (const [k, v] of scan(this.db, this.range(groupId, c.first, c.next))) {
      const m = decodeMessage(Number(k.readBigUInt64BE(9)), Buffer.from(v));
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

  async appendApplied(groupId: GroupId, messages: StoredMessage[], appliedIndex: number): Promise<void> {
    const c = this.c(groupId);
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
    ops.push(countersOp(groupId, c));
    await this.db.batch(ops, false);
  }

  async read(
    groupId: GroupId,
    fromOffset: number,
    maxMessages: number,
    maxBytes: number,
  ): Promise<StoredMessage[]> {
    const c = this.c(groupId);
    const from = Math.max(fromOffset, c.first);
    if (from >= c.next) return [];
    const it = this.db.iterator({
      gte: indexedKey(Prefix.Data, groupId, from),
      lt: indexedKey(Prefix.Data, groupId, c.next),
      limit: maxMessages,
    });
    try {
      // Row by row, so a batch of large messages stops at maxBytes instead of loading maxMessages.
      const out: StoredMessage[] = [];
      let bytes = 0;
      while (out.length < maxMessages) {
        const [row] = await it.nextv(1);
        if (!row) break;
        const m = decodeMessage(Number(row[0].readBigUInt64BE(9)), row[1]);
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

  async messageIdsSince(
    groupId: GroupId,
    timestampMicros: number,
  ): Promise<{ id: string; offset: number; timestampMicros: number }[]> {
    const c = this.c(groupId);
    const from = await this.offsetForTimestamp(groupId, timestampMicros);
    const out: { id: string; offset: number; timestampMicros: number }[] = [];
    for await (const [k, v] of scan(this.db, this.range(groupId, from, c.next))) {
      const m = decodeMessage(Number(k.readBigUInt64BE(9)), Buffer.from(v));
      if (m.messageId) out.push({ id: m.messageId, offset: m.offset, timestampMicros: m.timestampMicros });
    }
    return out;
  }

  private range(groupId: GroupId, from: number, until: number): { gte: Buffer; lt: Buffer } {
    return { gte: indexedKey(Prefix.Data, groupId, from), lt: indexedKey(Prefix.Data, groupId, until) };
  }

  /** Removes messages below offset (retention); returns the bytes freed. */
  async deleteBefore(groupId: GroupId, offset: number): Promise<number> {
    const c = this.c(groupId);
    const until = Math.min(offset, c.next);
    if (until <= c.first) return 0;
    const at = await this.row(groupId, until);
    // What stays is everything from `until` on: the total minus the bytes before it.
    const remaining = at ? (c.total ?? 0) - at.before : 0;
    const freed = Math.max(0, c.bytes - remaining);
    const range = this.range(groupId, c.first, until);
    await this.db.clear(range);
    await this.db.clear({
      gte: indexedKey(Prefix.MessageIndex, groupId, c.first),
      lt: indexedKey(Prefix.MessageIndex, groupId, until),
    });
    // Give the space back now rather than when later writes happen to compact this range.
    void this.db.compactRange(range.gte, range.lt).catch(() => undefined);
    c.first = until;
    c.bytes -= freed;
    await this.db.batch([countersOp(groupId, c)], false);
    return freed;
  }

  /** The partition as one image (Raft snapshot data): counters, then [offset f64][length u32][message]... */
  async exportImage(groupId: GroupId): Promise<Uint8Array> {
    const c = this.c(groupId);
    const header = Buffer.from(JSON.stringify(c));
    const parts: Buffer[] = [Buffer.from(new Uint32Array([header.byteLength]).buffer), header];
    for await (const [k, v] of scan(this.db, {
      gte: indexedKey(Prefix.Data, groupId, c.first),
      lt: indexedKey(Prefix.Data, groupId, c.next),
    })) {
      const head = Buffer.allocUnsafe(12);
      head.writeDoubleBE(Number(k.readBigUInt64BE(9)), 0);
      head.writeUInt32BE(v.byteLength, 8);
      parts.push(head, Buffer.from(v));
    }
    return Buffer.concat(parts);
  }

  /** Replaces the partition with an image from exportImage (a snapshot from the leader). */
  async importImage(groupId: GroupId, image: Uint8Array, appliedIndex: number): Promise<void> {
    const b = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
    const headerLength = b.readUInt32LE(0);
    const c = JSON.parse(b.subarray(4, 4 + headerLength).toString("utf8")) as Counters;
    await this.clearGroup(groupId);
    c.total ??= c.bytes;
    let before = c.total - c.bytes;
    const ops: BatchOp[] = [];
    for (let at = 4 + headerLength; at < b.byteLength; ) {
      const offset = b.readDoubleBE(at);
      const length = b.readUInt32BE(at + 8);
      const value = Buffer.from(b.subarray(at + 12, at + 12 + length));
      const m = decodeMessage(offset, value);
      ops.push({ type: "put", key: indexedKey(Prefix.Data, groupId, offset), value });
      ops.push({
        type: "put",
        key: indexedKey(Prefix.MessageIndex, groupId, offset),
        value: indexRow(m.timestampMicros, before),
      });
      before += m.body.byteLength;
      at += 12 + length;
    }
    c.applied = appliedIndex;
    this.counters.set(groupId, c);
    ops.push(countersOp(groupId, c));
    await this.db.batch(ops, false);
  }

  private async clearGroup(groupId: GroupId): Promise<void> {
    for (const prefix of [Prefix.Data, Prefix.MessageIndex])
      await this.db.clear({ gte: indexedKey(prefix, groupId, 0), lt: indexedKey(prefix, groupId + 1, 0) });
  }

  async dropGroup(groupId: GroupId): Promise<void> {
    this.counters.delete(groupId);
    await this.clearGroup(groupId);
    await this.db.batch([{ type: "del", key: groupKey(Prefix.Partition, groupId) }], false);
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
