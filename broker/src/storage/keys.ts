// Key layout of the node's one RocksDB database. Numbers are big-endian and fixed-width so that
// byte order is numeric order and a group's keys form one contiguous range.
//   L|group|index   Raft log entry
//   H|group         Raft hard state
//   S|group         Raft snapshot metadata
//   D|group|offset  a partition's message
//   P|group         a partition's counters (applied index, offsets, bytes)
//   I|group|offset  a message's index row: timestamp and body bytes before it (retention reads
//                   these, never the messages)
//   M               the metadata state machine's image
//   X|group|offset  a dedup row: the client message id first committed at that offset, kept while
//                   it is inside the partition's dedup window (partition-image.ts)
//   N               this node's identity: cluster, node id, incarnation (identity-store.ts)
//   W               how many synced batches the Raft log store has made (durability-mark.ts)

export enum Prefix {
  Log = 0x4c,
  HardState = 0x48,
  Snapshot = 0x53,
  Data = 0x44,
  Partition = 0x50,
  MessageIndex = 0x49,
  Metadata = 0x4d,
  Dedup = 0x58,
  Identity = 0x4e,
  DurableMark = 0x57,
}

export function groupKey(prefix: Prefix, group: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = prefix;
  b.writeBigUInt64BE(BigInt(group), 1);
  return b;
}

export function indexedKey(prefix: Prefix, group: number, index: number): Buffer {
  const b = Buffer.allocUnsafe(17);
  b[0] = prefix;
  b.writeBigUInt64BE(BigInt(group), 1);
  b.writeBigUInt64BE(BigInt(index), 9);
  return b;
}

export function indexOf(key: Buffer): number {
  return Number(key.readBigUInt64BE(9));
}

export function groupOf(key: Buffer): number {
  return Number(key.readBigUInt64BE(1));
}

export const metadataKey = Buffer.from([Prefix.Metadata]);
export const identityKey = Buffer.from([Prefix.Identity]);
export const durableMarkKey = Buffer.from([Prefix.DurableMark]);

/** [start, end) covering every key of one prefix. */
export function prefixRange(prefix: Prefix): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.from([prefix]), lt: Buffer.from([prefix + 1]) };
}
