import { type RaftConfig, type RaftSettings, resolveConfig } from "./config.js";
import type { ReadState } from "./outbox.js";
import { Raft, type Role, type SoftState } from "./raft.js";
import type { RaftLog } from "./raft-log.js";
import type {
  ConfChange,
  ConfState,
  Entry,
  GroupId,
  HardState,
  Message,
  NodeId,
  RaftStorage,
  Snapshot,
} from "./types.js";

export { decodeConfChange, encodeConfChange } from "./confchange.js";
// The names other code imports from here (the core was split up, see the files named below).
export type { RaftConfig } from "./config.js";
export type { ReadState } from "./outbox.js";
export type { Role, SoftState } from "./raft.js";

/**
 * What the I/O loop must do, in this order: persist `snapshot`, `entries` and `hardState` durably;
 * send `messages`; apply `snapshot` and then `committedEntries` to the state machine (calling
 * `applyConfChange` for configuration entries); then call `advance(ready)`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /**
   * Whether persisting this Ready needs an fsync before its messages go out (etcd's MustSync): true
   * when it carries entries, a snapshot, or a new term or vote. A hard state that only moved the
   * commit index need not be durable: a lost commit index is learned again from the leader, and
   * every applied entry is already fsynced in the log (docs/raft.md, "The write path").
   */
  mustSync: boolean;
}

/** A member as the leader sees it. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: string;
  recentActive: boolean;
  learner: boolean;
}

/** A snapshot of the node's state: a copy, changing it changes nothing. */
export interface RaftStatus {
  id: NodeId;
  groupId: GroupId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  leader: NodeId | "";
  role: Role;
  confState: ConfState;
  leadTransferee: NodeId | "";
  /** On the leader: the index a member must hold to know its configuration (0 on other roles). */
  confIndex: number;
  /** Per member, on the leader (empty on other roles). */
  progress: Map<NodeId, ProgressStatus>;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** etcd's MustSync: entries, a snapshot, a new term or a new vote must be on disk before anything is sent. */
export function mustSync(entries: number, snapshot: boolean, hard: HardState, prev: HardState): boolean {
  return entries > 0 || snapshot || hard.term !== prev.term || hard.vote !== prev.vote;
}

/**
 * One Raft group's consensus state machine, after the Raft paper and etcd's raft, as the I/O loop
 * drives it (etcd's RawNode): `tick`, `step` and proposals go in, and `ready()` hands out what is to
 * be persisted, sent and applied (see Ready); `advance` says it was done. The protocol itself is in
 * raft.ts. Term, vote, leader and role are read-only here: getters, or `status()` for a snapshot.
 */
export class RaftNode {
  private readonly raft: Raft;
  private readonly settings: RaftSettings;
  /** What the last Ready reported, so that the next one carries only changes. */
  private prevSoft: SoftState = { leader: "", role: "follower" };
  private prevHard: HardState;

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.settings = resolveConfig(config);
    this.raft = new Raft(this.settings, storage);
    this.prevHard = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  get groupId(): GroupId {
    return this.raft.groupId;
  }

  get term(): number {
    return this.raft.term;
  }

  get vote(): NodeId {
    return this.raft.vote;
  }

  /** The leader this node knows of ("" when none). */
  get lead(): NodeId | "" {
    return this.raft.lead;
  }

  get role(): Role {
    return this.raft.role;
  }

  /** The log, for reading (indexes, terms, entries); only the core changes it. */
  get log(): RaftLog {
    return this.raft.log;
  }

  // ---- input ----

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  /** Starts an election now (when this node is a voter). */
  campaign(kind?: "prevote" | "election" | "transfer"): void {
    this.raft.campaign(kind);
  }

  /** Throws ProposalDroppedError when this node cannot take it (not the leader, limits, a transfer). */
  propose(data: Uint8Array): void {
    this.raft.propose(data);
  }

  proposeConfChange(cc: ConfChange): void {
    this.raft.proposeConfChange(cc);
  }

  /** Applies a committed configuration change; called by the I/O loop when the entry applies. */
  applyConfChange(cc: ConfChange, index?: number): ConfState {
    return this.raft.applyConfChange(cc, index);
  }

  /** Moves leadership to a caught-up voter: stop taking proposals, catch it up, tell it to campaign. */
  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  /** A linearizable read: its ReadState (the index to wait for) appears in a later Ready. */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  confState(): ConfState {
    return this.raft.confState();
  }

  // ---- output ----

  hasReady(): boolean {
    const raft = this.raft;
    return (
      !sameSoft(raft.softState(), this.prevSoft) ||
      !sameHard(raft.hardState(), this.prevHard) ||
      raft.log.hasUnstableEntries() ||
      raft.log.unstableSnapshot !== undefined ||
      raft.hasOutput() ||
      raft.log.hasNextCommitted()
    );
  }

  ready(): Ready {
    const raft = this.raft;
    raft.flushProposals();
    const soft = raft.softState();
    const hard = raft.hardState();
    const entries = raft.log.unstableEntries();
    const snapshot = raft.log.unstableSnapshot;
    const rd: Ready = {
      entries,
      committedEntries: raft.log.nextCommitted(this.settings.maxSizePerMsg * 8),
      messages: raft.outbox.takeMessages(),
      readStates: raft.outbox.takeReadStates(),
      mustSync: mustSync(entries.length, snapshot !== undefined, hard, this.prevHard),
    };
    if (!sameSoft(soft, this.prevSoft)) rd.softState = soft;
    if (!sameHard(hard, this.prevHard)) rd.hardState = hard;
    if (snapshot) rd.snapshot = snapshot;
    return rd;
  }

  advance(rd: Ready): void {
    const raft = this.raft;
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      raft.log.stableSnapshotTo(rd.snapshot.metadata.index);
      raft.log.appliedSnapshot(rd.snapshot.metadata.index);
    }
    const lastPersisted = rd.entries.at(-1);
    if (lastPersisted) {
      raft.log.stableTo(lastPersisted.index, lastPersisted.term);
      raft.persisted(lastPersisted);
    }
    const lastApplied = rd.committedEntries.at(-1);
    if (lastApplied) {
      raft.log.appliedTo(lastApplied.index);
      raft.applied(rd.committedEntries);
    }
  }

  status(): RaftStatus {
    const raft = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (raft.role === "leader") {
      for (const pr of raft.tracker.progresses) {
        progress.set(pr.id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          // Heard from in this check-quorum window or the one before: a reader polling right after
          // the window resets still sees every live member (only the current window decides quorum).
          recentActive: pr.recentActive || pr.activeLastWindow,
          learner: pr.isLearner,
        });
      }
    }
    return {
      id: raft.id,
      groupId: raft.groupId,
      term: raft.term,
      vote: raft.vote,
      commit: raft.log.committed,
      applied: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      leader: raft.lead,
      role: raft.role,
      confState: raft.confState(),
      leadTransferee: raft.leadTransferee,
      confIndex: raft.role === "leader" ? raft.confIndex : 0,
      progress,
    };
  }
}
