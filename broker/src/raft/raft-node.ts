import { ProposalDroppedError, SnapshotTemporarilyUnavailableError } from "./errors.js";
import { admitted, incarnationsAfter, type SelfIncarnation } from "./incarnation.js";
import { Progress } from "./progress.js";
import { RaftLog } from "./raft-log.js";
import {
  CompactedError,
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type GroupId,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type RaftStorage,
  type Snapshot,
} from "./types.js";

export type Role = "follower" | "precandidate" | "candidate" | "leader";

export interface RaftConfig {
  id: NodeId;
  groupId: GroupId;
  /** Ticks without a leader before a follower stands for election (randomized up to twice this). */
  electionTicks?: number;
  heartbeatTicks?: number;
  /** A source of numbers in [0, 1): the only randomness the core uses. */
  random: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Entry bytes per Append message. */
  maxSizePerMsg?: number;
  /** Appends in flight per follower in replicate state. */
  maxInflightMsgs?: number;
  /** Proposals are dropped while more than this many bytes are uncommitted. */
  maxUncommittedBytes?: number;
  /**
   * Entries up to this index are not handed out again at start. Leave it unset (the snapshot index)
   * unless storage's configuration already reflects every configuration entry up to it: replayed
   * configuration entries are how a restarted node rebuilds its membership.
   */
  applied?: number;
  logger?: (line: string) => void;
  /** This node's incarnation (raft/incarnation.ts): it votes only where a configuration admitted it. */
  incarnation?: string;
  /** Whether this incarnation may vote where no incarnation is recorded for it (default true). */
  original?: boolean;
}

export interface SoftState {
  leader: NodeId | "";
  role: Role;
}

export interface ReadState {
  index: number;
  context: Uint8Array;
}

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
}

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
  progress: Map<
    NodeId,
    { match: number; next: number; state: string; recentActive: boolean; learner: boolean }
  >;
}

const transferContext = new TextEncoder().encode("transfer");
const descending = (a: number, b: number) => b - a;
const emptyBytes = new Uint8Array(0);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

interface ReadRequest {
  index: number;
  from: NodeId;
  context: Uint8Array;
  /** The context as a string, to match heartbeat responses. */
  key: string;
  acks: NodeId[];
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return textEncoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  return JSON.parse(textDecoder.decode(data)) as ConfChange;
}

function without(ids: NodeId[], id: NodeId): NodeId[] {
  return ids.includes(id) ? ids.filter((x) => x !== id) : ids;
}

function isTransfer(m: Message): boolean {
  const c = m.context;
  return (
    c !== undefined &&
    c.byteLength === transferContext.byteLength &&
    c.every((b, i) => b === transferContext[i])
  );
}

function contextKey(c: Uint8Array): string {
  return Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString("base64");
}

/**
 * One Raft group's consensus state machine, after the Raft paper and etcd's raft: no I/O, no clock,
 * no randomness but the injected source. The I/O loop drives it with `tick`, `step` and proposals,
 * and carries out what `ready()` returns (see Ready).
 */
export class RaftNode {
  readonly id: NodeId;
  readonly groupId: GroupId;
  term = 0;
  vote: NodeId = "";
  lead: NodeId | "" = "";
  role: Role = "follower";
  readonly log: RaftLog;

  // A group has a handful of members: plain arrays beat maps and sets at that size.
  private voters: NodeId[] = [];
  private learners: NodeId[] = [];
  private incarnations: Record<NodeId, string> = {};
  private readonly self: SelfIncarnation;
  /** Said once that this incarnation may not vote here (and said again once it may). */
  private notAdmittedLogged = false;
  /** The leader's progress per member (empty on other roles). */
  private prs: Progress[] = [];
  /** Votes received in the current (pre-)campaign. */
  private votes: { id: NodeId; granted: boolean }[] = [];
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | "" = "";
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private readRequests: ReadRequest[] = [];
  private readonly matchScratch: number[] = [];
  /** Configuration entries up to here took effect when the node started (see the constructor). */
  private confReplayedTo = 0;
  /** Proposals arrived since the last Ready: one Append per follower carries all of them. */
  private appendsPending = false;
  private pendingReadsBeforeCommit: { from: NodeId; context: Uint8Array }[] = [];
  private prevSoft: SoftState = { leader: "", role: "follower" };
  private prevHard: HardState;

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflight: number;
  private readonly maxUncommittedBytes: number;
  private readonly random: () => number;
  private readonly logger: ((line: string) => void) | undefined;

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.id = config.id;
    this.groupId = config.groupId;
    this.electionTimeout = config.electionTicks ?? 10;
    this.heartbeatTimeout = config.heartbeatTicks ?? 1;
    if (this.heartbeatTimeout >= this.electionTimeout)
      throw new Error("heartbeatTicks must be below electionTicks");
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxSizePerMsg = config.maxSizePerMsg ?? 1024 * 1024;
    this.maxInflight = config.maxInflightMsgs ?? 256;
    this.maxUncommittedBytes = config.maxUncommittedBytes ?? 64 * 1024 * 1024;
    this.random = config.random;
    this.logger = config.logger;
    this.self = { incarnation: config.incarnation, original: config.original ?? true };
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, config.applied ?? 0);
    this.applyConfState(confState);
    if (hardState.commit > 0) this.log.commitTo(Math.min(hardState.commit, this.log.lastIndex()));
    if (config.applied !== undefined && config.applied > this.log.committed) {
      throw new Error(`applied ${config.applied} is past the commit index ${this.log.committed}`);
    }
    // Committed configuration entries not yet applied (a new group's bootstrap entries, or those
    // replayed after a restart) take effect now: they are committed, so the membership is known
    // before the state machine catches up, and applying them again later changes nothing.
    for (const e of this.log.slice(this.log.applied + 1, this.log.committed + 1)) {
      if (e.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
    }
    this.confReplayedTo = this.log.committed;
    this.noteAdmission();
    this.becomeFollower(hardState.term, "");
    this.vote = hardState.vote;
    this.prevHard = this.hardState();
  }

  // ---- membership ----

  private applyConfState(cs: ConfState): void {
    this.voters = [...cs.voters];
    this.learners = [...cs.learners];
    this.incarnations = { ...cs.incarnations };
  }

  confState(): ConfState {
    const cs: ConfState = {
      voters: [...this.voters].sort(),
      learners: [...this.learners].sort(),
      votersOutgoing: [],
    };
    if (Object.keys(this.incarnations).length > 0) cs.incarnations = { ...this.incarnations };
    return cs;
  }

  /** Whether the configuration admitted this incarnation: only then may it vote or campaign. */
  private admitted(): boolean {
    return admitted(this.incarnations[this.id], this.self);
  }

  /** Says (once per change) when this node is a voter it may not act as, and when that ends. */
  private noteAdmission(): void {
    const ok = this.admitted();
    if (!ok && !this.notAdmittedLogged && this.promotable()) {
      this.notAdmittedLogged = true;
      const recorded = this.incarnations[this.id];
      this.logger?.(
        `${this.id} does not vote or campaign in group ${this.groupId}: the configuration admits ${
          recorded ? `incarnation ${recorded}` : "only its original incarnation"
        }, this is ${this.self.incarnation ?? "unknown"} (state lost: it votes again once re-added under it)`,
      );
    } else if (ok && this.notAdmittedLogged) {
      this.notAdmittedLogged = false;
      this.logger?.(
        `${this.id} was admitted to group ${this.groupId} as incarnation ${this.self.incarnation}`,
      );
    }
  }

  private promotable(): boolean {
    return this.voters.includes(this.id);
  }

  private quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  private progress(id: NodeId): Progress | undefined {
    for (const pr of this.prs) if (pr.id === id) return pr;
    return undefined;
  }

  private members(): NodeId[] {
    return [...this.voters, ...this.learners];
  }

  // ---- role changes ----

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = "";
    }
    this.lead = "";
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    this.leadTransferee = "";
    this.votes = [];
    this.prs = [];
    this.readRequests = [];
    this.pendingReadsBeforeCommit = [];
    this.uncommittedBytes = 0;
  }

  private becomeFollower(term: number, lead: NodeId | ""): void {
    this.reset(term);
    this.role = "follower";
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    // A pre-candidate changes neither its term nor its vote: a failed pre-vote disturbs nobody.
    this.role = "precandidate";
    this.votes = [];
    this.lead = "";
    this.electionElapsed = 0;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = "leader";
    this.lead = this.id;
    const last = this.log.lastIndex();
    for (const id of this.members()) {
      const pr = new Progress(id, last + 1, this.maxInflight, this.learners.includes(id));
      if (id === this.id) {
        pr.maybeUpdate(this.lastStableIndex());
        pr.becomeReplicate();
      }
      this.prs.push(pr);
    }
    // No configuration change until this term's first entry commits: that is the fix for the
    // single-server membership change bug (Ongaro, raft-dev, 2015): a new leader must commit an
    // entry of its own term before it may change the configuration.
    this.pendingConfIndex = last + 1;
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Empty, data: emptyBytes }]);
    this.logger?.(`${this.id} became leader of group ${this.groupId} at term ${this.term}`);
  }

  private lastStableIndex(): number {
    if (this.log.hasUnstableEntries()) return this.log.firstUnstableIndex() - 1;
    return this.log.unstableSnapshot ? 0 : this.log.lastIndex();
  }

  // ---- driving ----

  tick(): void {
    if (this.role === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.preVote ? "prevote" : "election");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.logger?.(
            `${this.id} steps down in group ${this.groupId}: no quorum heard within an election timeout`,
          );
          this.becomeFollower(this.term, "");
          return;
        }
        for (const pr of this.prs)
          if (pr.id !== this.id) {
            pr.activeLastWindow = pr.recentActive;
            pr.recentActive = false;
          }
      }
      if (this.leadTransferee) this.leadTransferee = "";
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) if (id === this.id || this.progress(id)?.recentActive) active++;
    return active >= this.quorum();
  }

  /** Starts an election now (when this node is a voter). */
  campaign(kind: "prevote" | "election" | "transfer" = this.preVote ? "prevote" : "election"): void {
    if (!this.promotable() || !this.admitted()) return;
    if (this.hasUnappliedConfChanges()) {
      // Our configuration may be about to change (we may even be removed): wait until it applies,
      // as etcd's raft does, so that a leader never starts out with a stale membership.
      this.logger?.(
        `${this.id} does not campaign in group ${this.groupId}: a committed configuration change is not applied yet`,
      );
      return;
    }
    let voteType: MessageType;
    let term: number;
    if (kind === "prevote") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    this.recordVote(this.id, true);
    if (this.tally().granted >= this.quorum()) {
      if (kind === "prevote") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(kind === "transfer" ? { context: transferContext } : {}),
      });
    }
  }

  private hasUnappliedConfChanges(): boolean {
    const hi = this.log.committed + 1;
    let lo = Math.max(this.log.applied + 1, this.confReplayedTo + 1, this.log.firstIndex());
    // Paged, so that a long backlog after a restart is not read at once.
    while (lo < hi) {
      const page = this.log.slice(lo, hi, this.maxSizePerMsg);
      for (const e of page) if (e.type === EntryType.ConfChange) return true;
      lo += page.length;
    }
    return false;
  }

  /** A voter's first answer counts (a duplicated response changes nothing). */
  private recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.some((v) => v.id === id)) this.votes.push({ id, granted });
  }

  private tally(): { granted: number; rejected: number } {
    let granted = 0;
    let rejected = 0;
    for (const { id, granted: v } of this.votes) {
      if (!this.voters.includes(id)) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected };
  }

  propose(data: Uint8Array): void {
    this.proposeEntry(EntryType.Normal, data);
  }

  proposeConfChange(cc: ConfChange): void {
    if (this.role !== "leader")
      throw new ProposalDroppedError(`not the leader (leader: ${this.lead || "unknown"})`);
    if (this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError("a configuration change is still pending; retry after it applies");
    }
    if (cc.type === "addVoter")
      throw new ProposalDroppedError("add a node as a learner, then promote it once caught up");
    const isVoter = this.voters.includes(cc.nodeId);
    const isLearner = this.learners.includes(cc.nodeId);
    if (cc.type === "addLearner" && isVoter)
      throw new ProposalDroppedError(`${cc.nodeId} is already a voter`);
    if (cc.type === "promote" && !isLearner) throw new ProposalDroppedError(`${cc.nodeId} is not a learner`);
    if (cc.type === "remove" && !isVoter && !isLearner)
      throw new ProposalDroppedError(`${cc.nodeId} is not a member`);
    if (cc.type === "remove" && isVoter && this.voters.length === 1) {
      throw new ProposalDroppedError("cannot remove the last voter");
    }
    this.proposeEntry(EntryType.ConfChange, encodeConfChange(cc));
    this.pendingConfIndex = this.log.lastIndex();
  }

  private proposeEntry(type: EntryType, data: Uint8Array): void {
    if (this.role !== "leader")
      throw new ProposalDroppedError(`not the leader (leader: ${this.lead || "unknown"})`);
    if (this.leadTransferee) throw new ProposalDroppedError(`leadership is moving to ${this.leadTransferee}`);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > this.maxUncommittedBytes) {
      throw new ProposalDroppedError(`more than ${this.maxUncommittedBytes} bytes are waiting to commit`);
    }
    this.appendEntries([{ term: 0, index: 0, type, data }]);
    this.appendsPending = true;
  }

  private appendEntries(entries: Entry[]): void {
    let index = this.log.lastIndex();
    for (const e of entries) {
      e.term = this.term;
      e.index = ++index;
      this.uncommittedBytes += e.data.byteLength;
    }
    this.log.append(entries);
  }

  /** Moves leadership to a caught-up voter: stop taking proposals, catch it up, tell it to campaign. */
  transferLeadership(to: NodeId): void {
    if (this.role !== "leader")
      throw new ProposalDroppedError(`not the leader (leader: ${this.lead || "unknown"})`);
    if (to === this.id || this.leadTransferee === to) return;
    if (!this.voters.includes(to))
      throw new ProposalDroppedError(`${to} is not a voter of group ${this.groupId}`);
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: MessageType.TimeoutNow, to });
    else this.sendAppend(to);
  }

  /** A linearizable read: its ReadState (the index to wait for) appears in a later Ready. */
  readIndex(context: Uint8Array): void {
    if (this.role === "leader") this.handleReadIndex(this.id, context);
    else if (this.lead) this.send({ type: MessageType.ReadIndex, to: this.lead, context });
    else throw new ProposalDroppedError("no leader to confirm a read");
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.progress(id);
    if (this.role === "leader" && pr && pr.state === "replicate") pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.progress(id);
    if (this.role !== "leader" || !pr || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    // Whether it worked or not, probe next: the follower's answer says where it is.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  /** Applies a committed configuration change; called by the I/O loop when the entry applies. */
  /**
   * Applies a committed configuration change. `index` is the entry's: a change the constructor
   * already took into effect at start (index <= confReplayedTo) is not applied again, or a restarted
   * node replaying its backlog would pass through every older configuration on the way (a removed
   * and re-added learner would be a voter for a while; a leader would count the wrong quorum).
   */
  applyConfChange(cc: ConfChange, index?: number): ConfState {
    if (index !== undefined && index <= this.confReplayedTo) return this.confState();
    const last = this.log.lastIndex();
    const leading = this.role === "leader";
    // Whether this change admits the node (a repeated add does not): only then is its incarnation recorded.
    const added =
      (cc.type === "addVoter" && !this.voters.includes(cc.nodeId)) ||
      (cc.type === "addLearner" && !this.voters.includes(cc.nodeId) && !this.learners.includes(cc.nodeId));
    switch (cc.type) {
      case "addVoter":
        this.learners = without(this.learners, cc.nodeId);
        if (!this.voters.includes(cc.nodeId)) this.voters.push(cc.nodeId);
        if (leading && !this.progress(cc.nodeId)) {
          this.prs.push(new Progress(cc.nodeId, last + 1, this.maxInflight, false));
        }
        break;
      case "addLearner":
        if (this.voters.includes(cc.nodeId) || this.learners.includes(cc.nodeId)) break;
        this.learners.push(cc.nodeId);
        if (leading) this.prs.push(new Progress(cc.nodeId, last + 1, this.maxInflight, true));
        break;
      case "promote": {
        if (!this.learners.includes(cc.nodeId)) break;
        this.learners = without(this.learners, cc.nodeId);
        this.voters.push(cc.nodeId);
        const pr = this.progress(cc.nodeId);
        if (pr) pr.isLearner = false;
        break;
      }
      case "remove":
        this.voters = without(this.voters, cc.nodeId);
        this.learners = without(this.learners, cc.nodeId);
        this.prs = this.prs.filter((pr) => pr.id !== cc.nodeId);
        if (this.leadTransferee === cc.nodeId) this.leadTransferee = "";
        break;
    }
    this.incarnations = incarnationsAfter(this.incarnations, cc, added);
    this.noteAdmission();
    if (this.role === "leader") {
      if (!this.voters.includes(this.id)) {
        this.logger?.(`${this.id} was removed from group ${this.groupId} and steps down`);
        this.becomeFollower(this.term, "");
      } else if (this.maybeCommit()) {
        this.bcastAppend();
      }
    }
    return this.confState();
  }

  // ---- messages ----

  private send(m: Partial<Message> & { type: MessageType; to: NodeId }): void {
    this.msgs.push({
      groupId: this.groupId,
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      ...m,
    });
  }

  step(m: Message): void {
    if (m.groupId !== this.groupId) return;
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader lease: while a leader is heard from, ignore campaigns (a partitioned node that
        // comes back cannot depose a healthy leader), unless the leader itself asked (transfer).
        const inLease = this.checkQuorum && this.lead !== "" && this.electionElapsed < this.electionTimeout;
        if (inLease && !isTransfer(m)) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResponse && !m.reject) {
        // A granted pre-vote carries the future term; we move to it only by campaigning.
      } else if (
        m.type === MessageType.Append ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snapshot
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, "");
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.Append)
      ) {
        // Tells a stale leader (cut off, now back) that a newer term exists, so it steps down.
        this.send({ type: MessageType.AppendResponse, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResponse, to: m.from, reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "precandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    const canVote =
      this.vote === m.from ||
      (this.vote === "" && this.lead === "") ||
      (m.type === MessageType.PreVote && m.term > this.term);
    // Not a voter check: a voter that has not applied its promotion yet must still be able to vote.
    if (canVote && this.log.isUpToDate(m.index, m.logTerm) && this.admitted()) {
      this.send({ type: responseType, to: m.from, term: m.term });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.logger?.(`${this.id} votes for ${m.from} in group ${this.groupId} at term ${m.term}`);
      }
    } else {
      this.send({ type: responseType, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress(m.from);
    switch (m.type) {
      case MessageType.AppendResponse: {
        if (!pr) return;
        pr.recentActive = true;
        if (m.reject) {
          let next = m.rejectHint;
          if (m.logTerm > 0) next = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, next)) {
            if (pr.state === "replicate") pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (!pr.maybeUpdate(m.index)) {
          if (wasPaused && !pr.isPaused()) this.sendAppend(m.from);
          return;
        }
        if (pr.state === "probe") pr.becomeReplicate();
        else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);
        if (this.maybeCommit()) this.bcastAppend();
        // Pipelining: keep the window full while there is log to send.
        while (this.sendAppend(m.from, false)) {}
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
          this.send({ type: MessageType.TimeoutNow, to: m.from });
        }
        return;
      }
      case MessageType.HeartbeatResponse: {
        if (!pr) return;
        pr.recentActive = true;
        pr.probeSent = false;
        // Appends may have been lost with the window full: free a slot so replication resumes
        // (a gap then shows up as a rejection and the follower is probed).
        if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context && m.context.byteLength > 0) this.ackRead(m.from, m.context);
        return;
      }
      case MessageType.ReadIndex:
        if (m.context) this.handleReadIndex(m.from, m.context);
        return;
      case MessageType.SnapshotStatus:
        this.reportSnapshot(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myResponse = this.role === "candidate" ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    switch (m.type) {
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myResponse: {
        this.recordVote(m.from, !m.reject);
        const { granted, rejected } = this.tally();
        if (granted >= this.quorum()) {
          if (this.role === "precandidate") this.campaign("election");
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (rejected >= this.quorum()) {
          this.becomeFollower(this.term, "");
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        this.logger?.(`${this.id} campaigns in group ${this.groupId} at the leader's request (transfer)`);
        this.campaign("transfer");
        return;
      case MessageType.ReadIndex:
        if (this.lead && m.context)
          this.send({ type: MessageType.ReadIndex, to: this.lead, context: m.context });
        return;
      case MessageType.ReadIndexResponse:
        if (m.context) this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppendResponse, to: m.from, index: lastNew });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: MessageType.AppendResponse,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({
      type: MessageType.HeartbeatResponse,
      to: m.from,
      ...(m.context ? { context: m.context } : {}),
    });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (!snap) return;
    if (this.restore(snap)) {
      this.send({ type: MessageType.AppendResponse, to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed });
    }
  }

  private restore(snap: Snapshot): boolean {
    const { index, term } = snap.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just move the commit forward.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.applyConfState(snap.metadata.confState);
    this.noteAdmission();
    return true;
  }

  // ---- replication ----

  /** The highest index a quorum of voters holds (reuses one small array: this runs on every ack). */
  private quorumMatch(): number {
    const matches = this.matchScratch;
    matches.length = 0;
    for (const pr of this.prs) if (!pr.isLearner) matches.push(pr.match);
    while (matches.length < this.voters.length) matches.push(0); // a voter without progress yet
    matches.sort(descending);
    return matches[this.quorum() - 1] ?? 0;
  }

  private maybeCommit(): boolean {
    if (!this.log.maybeCommit(this.quorumMatch(), this.term)) return false;
    this.onCommitted();
    return true;
  }

  private onCommitted(): void {
    if (this.log.term(this.log.committed) === this.term && this.pendingReadsBeforeCommit.length > 0) {
      const waiting = this.pendingReadsBeforeCommit;
      this.pendingReadsBeforeCommit = [];
      for (const r of waiting) this.handleReadIndex(r.from, r.context);
    }
  }

  private bcastAppend(): void {
    for (const pr of this.prs) if (pr.id !== this.id) this.sendAppend(pr.id);
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    for (const pr of this.prs) {
      const id = pr.id;
      if (id === this.id) continue;
      this.send({
        type: MessageType.Heartbeat,
        to: id,
        commit: Math.min(pr.match, this.log.committed),
        ...(context ? { context } : {}),
      });
    }
  }

  /** Sends the follower what it lacks (or a snapshot); false when nothing was sent. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.progress(to);
    if (!pr || pr.isPaused()) return false;
    let logTerm: number;
    let entries: Entry[];
    try {
      logTerm = this.log.termOrThrow(pr.next - 1);
      entries =
        pr.next > this.log.lastIndex()
          ? []
          : this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxSizePerMsg);
    } catch (err) {
      if (!(err instanceof CompactedError)) throw err;
      return this.sendSnapshot(pr);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: MessageType.Append,
      to,
      index: pr.next - 1,
      logTerm,
      entries,
      commit: this.log.committed,
    });
    pr.sentEntries(pr.next - 1 + entries.length, entries.length);
    return true;
  }

  private sendSnapshot(pr: Progress): boolean {
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    this.send({ type: MessageType.Snapshot, to: pr.id, snapshot });
    pr.becomeSnapshot(snapshot.metadata.index);
    this.logger?.(
      `${this.id} sends snapshot at ${snapshot.metadata.index} to ${pr.id} in group ${this.groupId}`,
    );
    return true;
  }

  // ---- read index ----

  private handleReadIndex(from: NodeId, context: Uint8Array): void {
    if (this.voters.length === 1) {
      this.releaseRead({ index: this.log.committed, from, context, key: "", acks: [] });
      return;
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // Until an entry of this term commits, our commit index may be behind the true one.
      this.pendingReadsBeforeCommit.push({ from, context });
      return;
    }
    this.readRequests.push({
      index: this.log.committed,
      from,
      context,
      key: contextKey(context),
      acks: [this.id],
    });
    this.bcastHeartbeat(context);
  }

  private ackRead(from: NodeId, context: Uint8Array): void {
    const key = contextKey(context);
    const at = this.readRequests.findIndex((r) => r.key === key);
    if (at < 0) return;
    const req = this.readRequests[at]!;
    if (this.voters.includes(from) && !req.acks.includes(from)) req.acks.push(from);
    if (req.acks.length < this.quorum()) return;
    // A quorum confirmed leadership after this request: it and every older one are safe.
    const released = this.readRequests.splice(0, at + 1);
    for (const r of released) this.releaseRead(r);
  }

  private releaseRead(r: ReadRequest): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, context: r.context });
    else this.send({ type: MessageType.ReadIndexResponse, to: r.from, index: r.index, context: r.context });
  }

  // ---- ready ----

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hasReady(): boolean {
    const soft = this.softState();
    const hard = this.hardState();
    return (
      soft.leader !== this.prevSoft.leader ||
      soft.role !== this.prevSoft.role ||
      hard.term !== this.prevHard.term ||
      hard.vote !== this.prevHard.vote ||
      hard.commit !== this.prevHard.commit ||
      this.log.hasUnstableEntries() ||
      this.log.unstableSnapshot !== undefined ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.appendsPending ||
      this.log.hasNextCommitted()
    );
  }

  ready(): Ready {
    if (this.appendsPending) {
      this.appendsPending = false;
      if (this.role === "leader") this.bcastAppend();
    }
    const soft = this.softState();
    const hard = this.hardState();
    const rd: Ready = {
      entries: this.log.unstableEntries(),
      committedEntries: this.log.nextCommitted(this.maxSizePerMsg * 8),
      messages: this.msgs,
      readStates: this.readStates,
    };
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) rd.softState = soft;
    if (
      hard.term !== this.prevHard.term ||
      hard.vote !== this.prevHard.vote ||
      hard.commit !== this.prevHard.commit
    ) {
      rd.hardState = hard;
    }
    if (this.log.unstableSnapshot) rd.snapshot = this.log.unstableSnapshot;
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  advance(rd: Ready): void {
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      this.log.stableSnapshotTo(rd.snapshot.metadata.index);
      this.log.appliedSnapshot(rd.snapshot.metadata.index);
    }
    const lastPersisted = rd.entries.at(-1);
    if (lastPersisted) {
      this.log.stableTo(lastPersisted.index, lastPersisted.term);
      // The leader counts its own copy only once it is durable (and still in its log).
      const self = this.progress(this.id);
      if (
        this.role === "leader" &&
        self &&
        this.log.term(lastPersisted.index) === lastPersisted.term &&
        self.maybeUpdate(lastPersisted.index) &&
        this.maybeCommit()
      ) {
        this.bcastAppend();
      }
    }
    const lastApplied = rd.committedEntries.at(-1);
    if (lastApplied) {
      this.log.appliedTo(lastApplied.index);
      // The uncommitted-bytes limit is an estimate (as etcd's): it shrinks as entries are applied.
      if (this.uncommittedBytes > 0) {
        for (const e of rd.committedEntries) this.uncommittedBytes -= e.data.byteLength;
        if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
      }
    }
  }

  status(): RaftStatus {
    const progress = new Map<
      NodeId,
      { match: number; next: number; state: string; recentActive: boolean; learner: boolean }
    >();
    if (this.role === "leader") {
      for (const pr of this.prs) {
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
      id: this.id,
      groupId: this.groupId,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      leader: this.lead,
      role: this.role,
      confState: this.confState(),
      leadTransferee: this.leadTransferee,
      progress,
    };
  }
}
