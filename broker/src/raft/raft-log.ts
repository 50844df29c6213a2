import { CompactedError, type Entry, type RaftStorage, type Snapshot, UnavailableError } from "./types.js";

/**
 * The log as the core sees it: what stable storage holds, plus the unstable tail (entries and a
 * snapshot that the I/O loop has been handed but not yet confirmed persisted).
 */
export class RaftLog {
  /** Entries not yet persisted; unstable[0] has index unstableOffset. */
  private unstable: Entry[] = [];
  private unstableOffset: number;
  unstableSnapshot: Snapshot | undefined;
  committed: number;
  applied: number;

  constructor(
    readonly storage: RaftStorage,
    applied: number,
  ) {
    const first = storage.firstIndex();
    this.unstableOffset = storage.lastIndex() + 1;
    this.committed = first - 1;
    this.applied = Math.max(first - 1, applied);
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.unstableOffset + this.unstable.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term at index; 0 when the index is outside the log (compacted or not yet written). */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return 0;
    if (index >= this.unstableOffset && this.unstable.length > 0)
      return this.unstable[index - this.unstableOffset]!.term;
    if (this.unstableSnapshot && index === this.unstableSnapshot.metadata.index)
      return this.unstableSnapshot.metadata.term;
    try {
      return this.storage.term(index);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0;
      throw err;
    }
  }

  /** Throws CompactedError when the term at index is gone (the follower needs a snapshot). */
  termOrThrow(index: number): number {
    if (index < this.firstIndex() - 1) throw new CompactedError(index);
    return this.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term && (term !== 0 || index === 0 || index === this.firstIndex() - 1);
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Appends after checking (index, logTerm) matches; returns the new last index or undefined on mismatch. */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed)
        throw new Error(`entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(entries.slice(conflict - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** First index where entries disagree with the log (or extend it); 0 when all match. */
  private findConflict(entries: Entry[]): number {
    for (const e of entries) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest index <= index whose term is <= term: where a leader should probe next after a
   * rejection (the fast back-off of etcd's raft, one round trip per term instead of per entry).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i >= this.firstIndex() - 1; i--) {
      const t = this.term(i);
      if (t <= term) return { index: i, term: t };
      if (i === 0) break;
    }
    return { index: i, term: 0 };
  }

  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0]!.index;
    if (first - 1 < this.committed)
      throw new Error(`appending at ${first} would overwrite committed ${this.committed}`);
    if (first === this.unstableOffset + this.unstable.length) {
      for (const e of entries) this.unstable.push(e);
    } else if (first <= this.unstableOffset) {
      // Replaces the whole unstable tail (and shadows stable entries from `first` on).
      this.unstableOffset = first;
      this.unstable = [...entries];
    } else {
      this.unstable.length = first - this.unstableOffset;
      for (const e of entries) this.unstable.push(e);
    }
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex())
      throw new Error(`commit ${index} is past the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Commits index when it is of `term` (a leader commits only entries of its own term directly). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(`applied ${index} is outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
  }

  /** The state machine now holds the snapshot's image. */
  appliedSnapshot(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  hasUnstableEntries(): boolean {
    return this.unstable.length > 0;
  }

  /** The first index not yet confirmed persisted. */
  firstUnstableIndex(): number {
    return this.unstableOffset;
  }

  unstableEntries(): Entry[] {
    return this.unstable.length === 0 ? [] : this.unstable.slice();
  }

  /** Committed entries not yet applied, at most maxBytes. */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  hasNextCommitted(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** The I/O loop persisted entries up to index (of term): they leave the unstable tail. */
  stableTo(index: number, term: number): void {
    if (this.unstable.length === 0) return;
    if (index < this.unstableOffset || index >= this.unstableOffset + this.unstable.length) return;
    if (this.unstable[index - this.unstableOffset]!.term !== term) return;
    this.unstable = this.unstable.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.metadata.index === index)
      this.unstableSnapshot = undefined;
  }

  /** Entries [lo, hi) from storage and the unstable tail, at most maxBytes (at least one). */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    let out: Entry[] = [];
    if (lo < this.unstableOffset) {
      const stableHi = Math.min(hi, this.unstableOffset);
      out = this.storage.entries(lo, stableHi, maxBytes);
      if (out.length < stableHi - lo) return out;
    }
    if (hi > this.unstableOffset) {
      let size = 0;
      for (const e of out) size += e.data.byteLength;
      for (let i = Math.max(lo, this.unstableOffset); i < hi; i++) {
        const e = this.unstable[i - this.unstableOffset]!;
        size += e.data.byteLength;
        if (out.length > 0 && size > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Installs a snapshot from the leader: the log restarts after it. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable = [];
    this.unstableOffset = snapshot.metadata.index + 1;
    this.unstableSnapshot = snapshot;
  }

  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }
}
