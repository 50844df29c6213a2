/**
 * The partition of a keyed message: FNV-1a over the key bytes, modulo the partition count. Stable
 * across nodes, processes and releases (changing it would reorder keys across partitions). Part of
 * the contract: the client computes it too, to send a keyed message straight to its partition leader.
 */
export function partitionFor(key: Uint8Array, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.byteLength; i++) {
    hash ^= key[i]!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}
