import { bootstrapEntries } from "./bootstrap.js";
import {
  CompactedError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
  UnavailableError,
} from "./types.js";

const emptyConf = (): ConfState => ({ voters: [], learners: [], votersOutgoing: [] });

/**
 * The log since the last compaction, held in memory (as etcd's MemoryStorage). Tests use it as the
 * disk; the RocksDB store keeps one per group as its read window and writes through to disk.
 * ents[0] is a dummy entry standing for the snapshot point (its index and term).
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: "", commit: 0 };
  private snap: Snapshot = {
    metadata: { index: 0, term: 0, confState: emptyConf() },
    data: new Uint8Array(),
  };
  private ents: Entry[] = [{ term: 0, index: 0, type: 1, data: new Uint8Array() }];

  /** A storage holding a new group's bootstrap entries (its initial members), as every initial member has. */
  static bootstrap(conf: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    const { entries, hardState } = bootstrapEntries(conf);
    s.append(entries);
    s.setHardState(hardState);
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: structuredClone(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo <= this.offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offset]!;
      size += e.data.byteLength;
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    if (index < this.offset) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    return this.ents[index - this.offset]!.term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces everything with a snapshot received from a leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) return;
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 1, data: new Uint8Array() }];
  }

  /** Records a snapshot of the state machine at `index` (which must be applied) and returns it. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    if (index > this.lastIndex()) throw new UnavailableError(index);
    this.snap = { metadata: { index, term: this.term(index), confState: structuredClone(confState) }, data };
    return this.snap;
  }

  /** Drops entries up to and including `index`. */
  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.lastIndex()) throw new UnavailableError(index);
    const term = this.term(index);
    this.ents = [
      { term, index, type: 1, data: new Uint8Array() },
      ...this.ents.slice(index - this.offset + 1),
    ];
  }

  /** Appends entries, replacing any conflicting tail. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first + entries.length - 1 <= this.offset) return;
    const skip = Math.max(0, this.offset + 1 - first);
    const fresh = skip > 0 ? entries.slice(skip) : entries;
    const at = fresh[0]!.index - this.offset;
    if (at > this.ents.length)
      throw new Error(`missing log entries: last ${this.lastIndex()}, appending at ${fresh[0]!.index}`);
    if (at < this.ents.length) this.ents.length = at; // a conflicting tail goes
    for (const e of fresh) this.ents.push(e);
  }
}
