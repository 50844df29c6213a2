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
  bytes: number;
}

const fresh = (): Counters => ({ first: 0, next: 0, applied: 0, lastTs: 0, bytes: 0 });

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
    return store;
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
      c.bytes += m.body.byteLength;
      c.next = m.offset + 1;
      c.lastTs = m.timestampMicros;
    }
    c.applied = appliedIndex;
    ops.push({
      type: "put",
      key: groupKey(Prefix.Partition, groupId),
      value: Buffer.from(JSON.stringify(c)),
    });
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
      const rows = await it.nextv(maxMessages);
      const out: StoredMessage[] = [];
      let bytes = 0;
      for (const [k, v] of rows) {
        const m = decodeMessage(Number(k.readBigUInt64BE(9)), Buffer.from(v));
        bytes += m.body.byteLength;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(m);
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

  /** Binary search: timestamps never decrease within a partition. */
  async offsetForTimestamp(groupId: GroupId, timestampMicros: number): Promise<number> {
    const c = this.c(groupId);
    let lo = c.first;
    let hi = c.next;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const v = await this.db.get(indexedKey(Prefix.Data, groupId, mid));
      const ts = v ? decodeMessage(mid, v).timestampMicros : Number.POSITIVE_INFINITY;
      if (ts < timestampMicros) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Removes messages below offset (retention); returns the bytes freed. */
  async deleteBefore(groupId: GroupId, offset: number): Promise<number> {
    const c = this.c(groupId);
    const until = Math.min(offset, c.next);
    if (until <= c.first) return 0;
    let freed = 0;
    for await (const [k, v] of scan(this.db, {
      gte: indexedKey(Prefix.Data, groupId, c.first),
      lt: indexedKey(Prefix.Data, groupId, until),
    })) {
      freed += decodeMessage(Number(k.readBigUInt64BE(9)), Buffer.from(v)).body.byteLength;
    }
    await this.db.clear({
      gte: indexedKey(Prefix.Data, groupId, c.first),
      lt: indexedKey(Prefix.Data, groupId, until),
    });
    c.first = until;
    c.bytes -= freed;
    await this.db.batch(
      [{ type: "put", key: groupKey(Prefix.Partition, groupId), value: Buffer.from(JSON.stringify(c)) }],
      false,
    );
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
    await this.db.clear({
      gte: indexedKey(Prefix.Data, groupId, 0),
      lt: indexedKey(Prefix.Data, groupId + 1, 0),
    });
    const ops: BatchOp[] = [];
    for (let at = 4 + headerLength; at < b.byteLength; ) {
      const offset = b.readDoubleBE(at);
      const length = b.readUInt32BE(at + 8);
      ops.push({
        type: "put",
        key: indexedKey(Prefix.Data, groupId, offset),
        value: Buffer.from(b.subarray(at + 12, at + 12 + length)),
      });
      at += 12 + length;
    }
    c.applied = appliedIndex;
    this.counters.set(groupId, c);
    ops.push({
      type: "put",
      key: groupKey(Prefix.Partition, groupId),
      value: Buffer.from(JSON.stringify(c)),
    });
    await this.db.batch(ops, false);
  }

  async dropGroup(groupId: GroupId): Promise<void> {
    this.counters.delete(groupId);
    await this.db.clear({
      gte: indexedKey(Prefix.Data, groupId, 0),
      lt: indexedKey(Prefix.Data, groupId + 1, 0),
    });
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
