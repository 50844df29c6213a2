import type { RaftSettings } from "./config.js";
import { ProposalDroppedError } from "./errors.js";
import { Leadership } from "./leader.js";
import { Membership } from "./membership.js";
import { Outbox } from "./outbox.js";
import { RaftLog } from "./raft-log.js";
import { Replication } from "./replication.js";
import { ProgressTracker } from "./tracker.js";
import {
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

export interface SoftState {
  leader: NodeId | "";
  role: Role;
}

const transferContext = new TextEncoder().encode("transfer");

/** A vote request the old leader asked for (TimeoutNow): it may break the leader lease. */
function isTransfer(m: Message): boolean {
  const c = m.context;
  return (
    c !== undefined &&
    c.byteLength === transferContext.byteLength &&
    c.every((b, i) => b === transferContext[i])
  );
}

/**
 * The Raft protocol for one group (etcd's raft.go): term, vote and role, elections, and how each
 * role steps a message. No I/O, no clock, no randomness but the injected source: what it produces
 * waits in the outbox (outbox.ts) until the raw node (raft-node.ts) hands it out as a Ready. The
 * leader's work is in leader.ts, log shipping in replication.ts, membership in membership.ts (over
 * tracker.ts and confchange.ts). Term, vote, leader and role change only here, so that callers see
 * them read-only.
 */
export class Raft {
  readonly id: NodeId;
  readonly groupId: GroupId;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly outbox: Outbox;
  #term = 0;
  #vote: NodeId = "";
  #lead: NodeId | "" = "";
  #role: Role = "follower";

  private readonly membership: Membership;
  private readonly replication: Replication;
  private readonly leadership: Leadership;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Proposals arrived since the last Ready: one Append per follower carries all of them. */
  private appendsPending = false;

  constructor(
    private readonly settings: RaftSettings,
    storage: RaftStorage,
  ) {
    this.id = settings.id;
    this.groupId = settings.groupId;
    this.tracker = new ProgressTracker(settings.maxInflight);
    this.outbox = new Outbox(settings.id, settings.groupId, () => this.#term);
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, settings.applied ?? 0);
    this.membership = new Membership(settings, this.tracker, this.log);
    this.replication = new Replication(settings, this.log, this.tracker, this.outbox);
    this.leadership = new Leadership(
      settings,
      this.log,
      this.tracker,
      this.replication,
      this.outbox,
      () => this.#term,
    );
    this.tracker.setConfState(confState);
    if (hardState.commit > 0) this.log.commitTo(Math.min(hardState.commit, this.log.lastIndex()));
    if (settings.applied !== undefined && settings.applied > this.log.committed) {
      throw new Error(`applied ${settings.applied} is past the commit index ${this.log.committed}`);
    }
    this.membership.replayCommitted();
    this.becomeFollower(hardState.term, "");
    this.#vote = hardState.vote;
  }

  get term(): number {
    return this.#term;
  }

  get vote(): NodeId {
    return this.#vote;
  }

  get lead(): NodeId | "" {
    return this.#lead;
  }

  get role(): Role {
    return this.#role;
  }

  /** On a leader: the index a member must hold to know its configuration (leader.ts confIndex). */
  get confIndex(): number {
    return this.leadership.confIndex;
  }

  get leadTransferee(): NodeId | "" {
    return this.leadership.leadTransferee;
  }

  softState(): SoftState {
    return { leader: this.#lead, role: this.#role };
  }

  hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.log.committed };
  }

  private promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  // ---- role changes ----

  private reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = "";
    }
    this.#lead = "";
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    const timeout = this.settings.electionTimeout;
    this.randomizedElectionTimeout = timeout + Math.floor(this.settings.random() * timeout);
    this.tracker.reset();
    this.leadership.reset();
  }

  private becomeFollower(term: number, lead: NodeId | ""): void {
    this.reset(term);
    this.#role = "follower";
    this.#lead = lead;
  }

  private becomePreCandidate(): void {
    // A pre-candidate changes neither its term nor its vote: a failed pre-vote disturbs nobody.
    this.#role = "precandidate";
    this.tracker.resetVotes();
    this.#lead = "";
    this.electionElapsed = 0;
  }

  private becomeCandidate(): void {
    this.reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = "candidate";
  }

  private becomeLeader(): void {
    this.reset(this.#term);
    this.#role = "leader";
    this.#lead = this.id;
    this.leadership.start();
    this.settings.logger?.(`${this.id} became leader of group ${this.groupId} at term ${this.#term}`);
  }

  // ---- time ----

  tick(): void {
    if (this.#role === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.settings.preVote ? "prevote" : "election");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.settings.electionTimeout) {
      this.electionElapsed = 0;
      if (this.settings.checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          this.settings.logger?.(
            `${this.id} steps down in group ${this.groupId}: no quorum heard within an election timeout`,
          );
          this.becomeFollower(this.#term, "");
          return;
        }
        this.tracker.closeActivityWindow(this.id);
      }
      // A transfer that did not finish within an election timeout is given up.
      this.leadership.cancelTransfer();
    }
    if (this.heartbeatElapsed >= this.settings.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.replication.bcastHeartbeat();
    }
  }

  // ---- elections ----

  /** Starts an election now (when this node is a voter). */
  campaign(kind: "prevote" | "election" | "transfer" = this.settings.preVote ? "prevote" : "election"): void {
    if (!this.promotable() || !this.membership.admitted()) return;
    if (this.membership.hasUnappliedChanges()) {
      // Our configuration may be about to change (we may even be removed): wait until it applies,
      // as etcd's raft does, so that a leader never starts out with a stale membership.
      this.settings.logger?.(
        `${this.id} does not campaign in group ${this.groupId}: a committed configuration change is not applied yet`,
      );
      return;
    }
    // Said once per outage: a pre-candidate that hears nothing campaigns again every election timeout.
    const again = kind === "prevote" && this.#role === "precandidate";
    let voteType: MessageType;
    let term: number;
    if (kind === "prevote") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.#term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.#term;
    }
    if (!again)
      this.settings.logger?.(
        `${this.id} starts ${kind === "prevote" ? "a pre-vote" : "an election"} in group ${this.groupId} for term ${term} (log ${this.log.lastIndex()}@${this.log.lastTerm()}, voters ${this.tracker.voters.join(",")})`,
      );
    this.tracker.recordVote(this.id, true);
    if (this.tracker.voteResult() === "won") {
      if (kind === "prevote") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      this.outbox.send({
        type: voteType,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(kind === "transfer" ? { context: transferContext } : {}),
      });
    }
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    const canVote =
      this.#vote === m.from ||
      (this.#vote === "" && this.#lead === "") ||
      (m.type === MessageType.PreVote && m.term > this.#term);
    // Not a voter check: a voter that has not applied its promotion yet must still be able to vote.
    if (canVote && this.log.isUpToDate(m.index, m.logTerm) && this.membership.admitted()) {
      this.outbox.send({ type: responseType, to: m.from, term: m.term });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.#vote = m.from;
        this.settings.logger?.(`${this.id} votes for ${m.from} in group ${this.groupId} at term ${m.term}`);
      }
    } else {
      this.settings.logger?.(
        `${this.id} refuses its ${m.type === MessageType.Vote ? "vote" : "pre-vote"} to ${m.from} in group ${this.groupId} for term ${m.term}: ${
          !canVote
            ? `it voted for ${this.#vote || "nobody"} at term ${this.#term}, follows "${this.#lead}"`
            : !this.membership.admitted()
              ? "this incarnation is not admitted"
              : `its log ${m.index}@${m.logTerm} is behind ${this.log.lastIndex()}@${this.log.lastTerm()}`
        }`,
      );
      this.outbox.send({ type: responseType, to: m.from, reject: true });
    }
  }

  // ---- requests the leader serves ----

  private requireLeader(): void {
    if (this.#role !== "leader")
      throw new ProposalDroppedError(`not the leader (leader: ${this.#lead || "unknown"})`);
  }

  propose(data: Uint8Array): void {
    this.requireLeader();
    this.leadership.propose(EntryType.Normal, data);
    this.appendsPending = true;
  }

  proposeConfChange(cc: ConfChange): void {
    this.requireLeader();
    this.leadership.proposeConfChange(cc);
    this.appendsPending = true;
  }

  transferLeadership(to: NodeId): void {
    this.requireLeader();
    // The transfer gets a whole election timeout before tickHeartbeat gives it up.
    if (this.leadership.transfer(to)) this.electionElapsed = 0;
  }

  /** A linearizable read: its ReadState (the index to wait for) appears in a later Ready. */
  readIndex(context: Uint8Array): void {
    if (this.#role === "leader") this.leadership.readIndex(this.id, context);
    else if (this.#lead) this.outbox.send({ type: MessageType.ReadIndex, to: this.#lead, context });
    else throw new ProposalDroppedError("no leader to confirm a read");
  }

  reportUnreachable(id: NodeId): void {
    if (this.#role === "leader") this.leadership.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.#role === "leader") this.leadership.reportSnapshot(id, ok);
  }

  // ---- membership ----

  confState(): ConfState {
    return this.tracker.confState();
  }

  /** Applies a committed configuration change; called by the I/O loop as the entry applies. */
  applyConfChange(cc: ConfChange, index?: number): ConfState {
    const leading = this.#role === "leader";
    if (!this.membership.apply(cc, index, leading ? this.log.lastIndex() + 1 : undefined))
      return this.confState();
    if (cc.type === "remove") this.leadership.cancelTransfer(cc.nodeId);
    if (leading) {
      if (!this.promotable()) {
        this.settings.logger?.(`${this.id} was removed from group ${this.groupId} and steps down`);
        this.becomeFollower(this.#term, "");
      } else if (this.leadership.maybeCommit()) {
        // The quorum changed: what the new one holds may commit.
        this.replication.bcastAppend();
      }
    }
    return this.confState();
  }

  /** Installs a snapshot from the leader; false when this node already had what it holds. */
  private restore(snap: Snapshot): boolean {
    const { index, term } = snap.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just move the commit forward.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.membership.restore(snap.metadata.confState);
    return true;
  }

  // ---- messages ----

  step(m: Message): void {
    if (m.groupId !== this.groupId) return;
    if (m.term > this.#term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader lease: while a leader is heard from, ignore campaigns (a partitioned node that
        // comes back cannot depose a healthy leader), unless the leader itself asked (transfer).
        const inLease =
          this.settings.checkQuorum &&
          this.#lead !== "" &&
          this.electionElapsed < this.settings.electionTimeout;
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
    } else if (m.term < this.#term) {
      if (
        (this.settings.checkQuorum || this.settings.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.Append)
      ) {
        // Tells a stale leader (cut off, now back) that a newer term exists, so it steps down.
        this.outbox.send({ type: MessageType.AppendResponse, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.outbox.send({ type: MessageType.PreVoteResponse, to: m.from, reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.#role) {
      case "leader":
        this.leadership.step(m);
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

  private stepCandidate(m: Message): void {
    const myResponse = this.#role === "candidate" ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // Someone won this term: follow it.
        this.becomeFollower(m.term, m.from);
        this.acceptFromLeader(m);
        return;
      case myResponse: {
        this.tracker.recordVote(m.from, !m.reject);
        const result = this.tracker.voteResult();
        if (result === "won") {
          if (this.#role === "precandidate") this.campaign("election");
          else {
            this.becomeLeader();
            this.replication.bcastAppend();
          }
        } else if (result === "lost") {
          this.becomeFollower(this.#term, "");
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
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.#lead = m.from;
        this.acceptFromLeader(m);
        return;
      case MessageType.TimeoutNow:
        this.settings.logger?.(
          `${this.id} campaigns in group ${this.groupId} at the leader's request (transfer)`,
        );
        this.campaign("transfer");
        return;
      case MessageType.ReadIndex:
        if (this.#lead && m.context)
          this.outbox.send({ type: MessageType.ReadIndex, to: this.#lead, context: m.context });
        return;
      case MessageType.ReadIndexResponse:
        if (m.context) this.outbox.addReadState({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  /** An Append, Heartbeat or Snapshot from the leader of our term. */
  private acceptFromLeader(m: Message): void {
    if (m.type === MessageType.Append) this.replication.acceptAppend(m);
    else if (m.type === MessageType.Heartbeat) this.replication.acceptHeartbeat(m);
    else this.replication.acceptSnapshot(m, (snap) => this.restore(snap));
  }

  // ---- what the raw node (raft-node.ts) reports ----

  /** Messages, reads or proposals wait to go out in the next Ready. */
  hasOutput(): boolean {
    return !this.outbox.isEmpty() || this.appendsPending;
  }

  /** Sends the Appends that carry the proposals made since the last Ready (one per follower for all). */
  flushProposals(): void {
    if (!this.appendsPending) return;
    this.appendsPending = false;
    if (this.#role === "leader") this.replication.bcastAppend();
  }

  /** The I/O loop made the log durable up to `last`. */
  persisted(last: Entry): void {
    if (this.#role === "leader") this.leadership.persisted(last);
  }

  /** The I/O loop applied `entries`. */
  applied(entries: Entry[]): void {
    this.leadership.applied(entries);
  }
}
