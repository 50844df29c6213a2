import type { MemoryStorage } from "../memory-storage.js";
import type { RaftNode } from "../raft-node.js";
import { type Entry, EntryType, type NodeId } from "../types.js";

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetyViolation";
  }
}

/** What the checker reads of a simulated node. */
export interface CheckedNode {
  id: NodeId;
  storage: MemoryStorage;
  raft: RaftNode | undefined;
  /** Commit index up to which this incarnation's log was checked against every other commit. */
  checkedCommit: number;
}

/** A client proposal and where the leader put it. */
export interface Proposal {
  index: number;
  term: number;
}

const decoder = new TextDecoder();

/**
 * Raft's safety properties (the Raft paper, figure 3), checked as the simulation runs: election
 * safety, leader completeness, log matching, state machine safety, and that committed entries never
 * change. It only observes: nothing here changes a node or draws a random number.
 */
export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index -> "term:type:data" of every entry any node applied: all nodes must agree. */
  private readonly appliedAt = new Map<number, string>();
  /** index -> term of every entry any node has seen committed (committed entries never change). */
  private readonly committedTerm: number[] = [];
  private highestCommitted = 0;
  /**
   * "index/term" -> the entry's type and data and the term before it, for every entry ever persisted
   * anywhere. One value per key is, by induction, the log matching property: same index and term,
   * same entry and same history.
   */
  private readonly persistedEntries = new Map<string, { prev: number | undefined; body: string }>();
  private readonly proposals = new Map<string, Proposal>();

  /** `onNewLeader` hears of each term's leader once, when it is first seen. */
  constructor(private readonly onNewLeader: (id: NodeId, term: number) => void) {}

  /** The highest index any node has committed. */
  get maxCommitted(): number {
    return this.highestCommitted;
  }

  /** How many indexes some node applied. */
  get appliedCount(): number {
    return this.appliedAt.size;
  }

  /** Whether some node applied an entry at `index`. */
  hasApplied(index: number): boolean {
    return this.appliedAt.has(index);
  }

  /** Log matching, checked as entries reach a disk (see persistedEntries). */
  recordPersisted(n: CheckedNode, entries: Entry[]): void {
    let prev: number | undefined;
    try {
      prev = n.storage.term(entries[0]!.index - 1);
    } catch {
      prev = undefined; // Compacted below the batch: nothing to compare with.
    }
    for (const e of entries) {
      const key = `${e.index}/${e.term}`;
      const body = `${e.type}/${decoder.decode(e.data)}`;
      const seen = this.persistedEntries.get(key);
      if (seen === undefined) this.persistedEntries.set(key, { prev, body });
      else if (seen.body !== body || (seen.prev !== undefined && prev !== undefined && seen.prev !== prev)) {
        throw new SafetyViolation(
          `log matching: ${n.id} persisted entry ${key} after term ${prev} as "${body}", another node after term ${seen.prev} as "${seen.body}"`,
        );
      } else if (seen.prev === undefined) seen.prev = prev;
      prev = e.term;
    }
  }

  /** The invariants that must hold after every step, over the running nodes. */
  checkStep(alive: CheckedNode[]): void {
    for (const n of alive) {
      const raft = n.raft!;
      if (raft.role === "leader") this.checkLeader(n, raft);
      // Committed entries never change: every commit index any node reaches agrees with all others.
      const committed = raft.log.committed;
      if (committed > n.checkedCommit) {
        for (let i = Math.max(n.checkedCommit + 1, raft.log.firstIndex()); i <= committed; i++) {
          const term = raft.log.term(i);
          const known = this.committedTerm[i];
          if (known === undefined) this.committedTerm[i] = term;
          else if (known !== term) {
            throw new SafetyViolation(
              `committed entry lost: ${n.id} committed index ${i} at term ${term}, another node at term ${known}`,
            );
          }
        }
        n.checkedCommit = committed;
        if (committed > this.highestCommitted) this.highestCommitted = committed;
      }
    }
  }

  /** At most one leader per term, and it holds every entry committed so far (leader completeness). */
  private checkLeader(n: CheckedNode, raft: RaftNode): void {
    const previous = this.leaderOfTerm.get(raft.term);
    if (previous === n.id) return;
    if (previous !== undefined) {
      throw new SafetyViolation(`two leaders in term ${raft.term}: ${previous} and ${n.id}`);
    }
    this.leaderOfTerm.set(raft.term, n.id);
    this.onNewLeader(n.id, raft.term);
    if (raft.log.lastIndex() < this.highestCommitted) {
      throw new SafetyViolation(
        `leader ${n.id} (term ${raft.term}) ends at ${raft.log.lastIndex()}, before the committed ${this.highestCommitted}`,
      );
    }
    for (let i = raft.log.firstIndex(); i <= this.highestCommitted; i++) {
      const term = this.committedTerm[i];
      if (term !== undefined && raft.log.term(i) !== term) {
        throw new SafetyViolation(
          `leader ${n.id} (term ${raft.term}) lacks committed entry ${i} of term ${term}`,
        );
      }
    }
  }

  /**
   * State machine safety: every node applies the same entry at an index. A client's entry must apply
   * where its leader put it. Returns the entry's data as text.
   */
  checkApplied(id: NodeId, e: Entry): string {
    const data = decoder.decode(e.data);
    const value = `${e.term}:${e.type}:${data}`;
    const seen = this.appliedAt.get(e.index);
    if (seen !== undefined && seen !== value) {
      throw new SafetyViolation(
        `state machine safety: ${id} applied "${value}" at ${e.index}, another node applied "${seen}"`,
      );
    }
    this.appliedAt.set(e.index, value);
    const proposal = e.type === EntryType.Normal ? this.proposals.get(data) : undefined;
    if (proposal && (proposal.index !== e.index || proposal.term !== e.term)) {
      throw new SafetyViolation(
        `proposal ${data} was placed at ${proposal.index} (term ${proposal.term}) but applied at ${e.index} (term ${e.term})`,
      );
    }
    return data;
  }

  /** A client proposal the leader accepted at `index` in `term`: it must end committed there, or be overwritten. */
  recordProposal(payload: string, index: number, term: number): void {
    this.proposals.set(payload, { index, term });
  }

  /** Where the leader put the proposal `payload`. */
  proposal(payload: string): Proposal | undefined {
    return this.proposals.get(payload);
  }

  /** Every proposal the leader accepted, by payload. */
  allProposals(): ReadonlyMap<string, Proposal> {
    return this.proposals;
  }

  /** Whether the entry applied at the proposal's index is that proposal (not one that overwrote it). */
  appliedAsProposed(payload: string, p: Proposal): boolean {
    return this.appliedAt.get(p.index) === `${p.term}:${EntryType.Normal}:${payload}`;
  }

  /** Log matching across whole logs at the end: where two logs agree on an entry, all before it agree. */
  checkLogMatching(live: CheckedNode[]): void {
    for (let i = 0; i < live.length; i++) {
      for (let j = i + 1; j < live.length; j++) {
        const a = live[i]!.raft!.log;
        const b = live[j]!.raft!.log;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        let matched = false;
        for (let k = hi; k >= lo; k--) {
          const same = a.term(k) === b.term(k);
          if (matched && !same) {
            throw new SafetyViolation(
              `log matching: ${live[i]!.id} and ${live[j]!.id} agree at a later index but differ at ${k}`,
            );
          }
          if (same) matched = true;
        }
      }
    }
  }
}
