import type {
  DedupChanges,
  DedupRecord,
  MetadataStorePort,
  PartitionLogPort,
  StoredMessage,
} from "../../src/engine/ports.js";
import type { GroupId } from "../../src/raft/types.js";

/** In-memory partition data, standing in for RocksDB in in-process cluster tests. */
export class MemoryPartitionLog implements PartitionLogPort {
  private readonly parts = new Map<
    GroupId,
    { messages: StoredMessage[]; first: number; applied: number; dedup: Map<number, DedupRecord> }
  >();

  private part(groupId: GroupId) {
    let p = this.parts.get(groupId);
    if (!p) {
      p = { messages: [], first: 0, applied: 0, dedup: new Map() };
      this.parts.set(groupId, p);
    }
    return p;
  }

  async appendApplied(
    groupId: GroupId,
    messages: StoredMessage[],
    appliedIndex: number,
    dedup?: DedupChanges,
  ): Promise<void> {
    const p = this.part(groupId);
    p.messages.push(...messages);
    for (const offset of dedup?.drop ?? []) p.dedup.delete(offset);
    for (const r of dedup?.put ?? []) p.dedup.set(r.offset, r);
    p.applied = appliedIndex;
  }

  async read(groupId: GroupId, fromOffset: number, maxMessages: number): Promise<StoredMessage[]> {
    const p = this.part(groupId);
    const start = Math.max(0, fromOffset - p.first);
    return p.messages.slice(start, start + maxMessages);
  }

  firstOffset(groupId: GroupId): number {
    return this.part(groupId).first;
  }

  nextOffset(groupId: GroupId): number {
    const p = this.part(groupId);
    return p.first + p.messages.length;
  }

  appliedIndex(groupId: GroupId): number {
    return this.part(groupId).applied;
  }

  lastTimestamp(groupId: GroupId): number {
    return this.part(groupId).messages.at(-1)?.timestampMicros ?? 0;
  }

  async timestampOf(groupId: GroupId, offset: number): Promise<number | undefined> {
    const p = this.part(groupId);
    return p.messages[offset - p.first]?.timestampMicros;
  }

  async offsetForTimestamp(groupId: GroupId, timestampMicros: number): Promise<number> {
    const p = this.part(groupId);
    const i = p.messages.findIndex((m) => m.timestampMicros >= timestampMicros);
    return i < 0 ? this.nextOffset(groupId) : p.first + i;
  }

  retainedBytes(groupId: GroupId): number {
    return this.part(groupId).messages.reduce((sum, m) => sum + m.body.byteLength, 0);
  }

  async offsetWithinBytes(groupId: GroupId, maxBytes: number): Promise<number> {
    const p = this.part(groupId);
    let remaining = this.retainedBytes(groupId);
    let i = 0;
    while (remaining > maxBytes && i < p.messages.length) remaining -= p.messages[i++]!.body.byteLength;
    return p.first + i;
  }

  async retain(groupId: GroupId, offset: number, appliedIndex: number): Promise<number> {
    const p = this.part(groupId);
    const gone = p.messages.splice(0, Math.max(0, Math.min(offset, this.nextOffset(groupId)) - p.first));
    p.first += gone.length;
    p.applied = appliedIndex;
    return gone.reduce((sum, m) => sum + m.body.byteLength, 0);
  }

  async dedupWindow(groupId: GroupId): Promise<DedupRecord[]> {
    return [...this.part(groupId).dedup.values()].sort((a, b) => a.offset - b.offset);
  }

  async exportImage(groupId: GroupId): Promise<Uint8Array> {
    const p = this.part(groupId);
    return new TextEncoder().encode(
      JSON.stringify({
        first: p.first,
        dedup: [...p.dedup.values()],
        messages: p.messages.map((m) => ({ ...m, key: [...m.key], body: [...m.body] })),
      }),
    );
  }

  async importImage(groupId: GroupId, image: Uint8Array, appliedIndex: number): Promise<void> {
    const j = JSON.parse(new TextDecoder().decode(image)) as {
      first: number;
      dedup: DedupRecord[];
      messages: (StoredMessage & { key: number[]; body: number[] })[];
    };
    this.parts.set(groupId, {
      first: j.first,
      applied: appliedIndex,
      dedup: new Map(j.dedup.map((r) => [r.offset, r])),
      messages: j.messages.map((m) => ({ ...m, key: Uint8Array.from(m.key), body: Uint8Array.from(m.body) })),
    });
  }
}

export class MemoryMetadataStore implements MetadataStorePort {
  private saved: { image: Uint8Array; appliedIndex: number } | undefined;

  async loadMetadata() {
    return this.saved;
  }

  async saveMetadata(image: Uint8Array, appliedIndex: number): Promise<void> {
    this.saved = { image, appliedIndex };
  }
}
