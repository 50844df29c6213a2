import { checkConfChange, encodeConfChange } from "./confchange.js";
import type { RaftSettings } from "./config.js";
import { ProposalDroppedError } from "./errors.js";
import type { Outbox } from "./outbox.js";
import type { RaftLog } from "./raft-log.js";
import { ReadOnly } from "./read-only.js";
import type { Replication } from "./replication.js";
import type { ProgressTracker } from "./tracker.js";
import { type ConfChange, type Entry, EntryType, type Message, MessageType, type NodeId } from "./types.js";

const emptyBytes = new Uint8Array(0);

/**
 * What only the leader does (the stepLeader half of etcd's raft.go): take proposals, commit what a
 * quorum holds, confirm reads, move leadership on request, and read its followers' answers. Its
 * state belongs to one term's leadership: raft.ts resets it with every change of term or role, and
 * calls it only while leading (but for `applied` and `cancelTransfer`, which are no-ops otherwise).
 */
export class Leadership {
  private transferee: NodeId | "" = "";
  /** No configuration change may be proposed until the log is applied up to this index (set by start). */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private readonly readOnly = new ReadOnly();

  constructor(
    private readonly settings: RaftSettings,
    private readonly log: RaftLog,
    private readonly tracker: ProgressTracker,
    private readonly replication: Replication,
    private readonly outbox: Outbox,
    private readonly term: () => number,
  ) {}

  /**
   * The latest configuration change this leader proposed, or its own first entry (which follows
   * every change before its term): a member holding this index knows the configuration that
   * admitted it.
   */
  get confIndex(): number {
    return this.pendingConfIndex;
  }

  /** pendingConfIndex is left alone: only a leader reads it, and start() sets it anew. */
  reset(): void {
    this.transferee = "";
    this.readOnly.reset();
    this.uncommittedBytes = 0;
  }

  /** The voter leadership is moving to ("" when none): proposals are refused meanwhile. */
  get leadTransferee(): NodeId | "" {
    return this.transferee;
  }

  /** A transfer is given up (it did not finish in time, or its target left the group). */
  cancelTransfer(to?: NodeId): void {
    if (to === undefined || this.transferee === to) this.transferee = "";
  }

  /** Takes office: every member is probed from the end of the log, and an entry of this term starts it. */
  start(): void {
    const last = this.log.lastIndex();
    this.tracker.startProgress(last + 1, this.settings.id, this.lastStableIndex());
    // No configuration change until this term's first entry commits: that is the fix for the
    // single-server membership change bug (Ongaro, raft-dev, 2015): a new leader must commit an
    // entry of its own term before it may change the configuration.
    this.pendingConfIndex = last + 1;
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Empty, data: emptyBytes }]);
  }

  /** What the leader's own copy counts for: only what is durable (see persisted). */
  private lastStableIndex(): number {
    if (this.log.hasUnstableEntries()) return this.log.firstUnstableIndex() - 1;
    return this.log.unstableSnapshot ? 0 : this.log.lastIndex();
  }

  // ---- proposals ----

  propose(type: EntryType, data: Uint8Array): void {
    if (this.transferee) throw new ProposalDroppedError(`leadership is moving to ${this.transferee}`);
    const limit = this.settings.maxUncommittedBytes;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > limit) {
      throw new ProposalDroppedError(`more than ${limit} bytes are waiting to commit`);
    }
    this.appendEntries([{ term: 0, index: 0, type, data }]);
  }

  /** One change at a time: the next may be proposed once this one has applied. */
  proposeConfChange(cc: ConfChange): void {
    if (this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError("a configuration change is still pending; retry after it applies");
    }
    checkConfChange(cc, this.tracker);
    this.propose(EntryType.ConfChange, encodeConfChange(cc));
    this.pendingConfIndex = this.log.lastIndex();
  }

  private appendEntries(entries: Entry[]): void {
    let index = this.log.lastIndex();
    for (const e of entries) {
      e.term = this.term();
      e.index = ++index;
      this.uncommittedBytes += e.data.byteLength;
    }
    this.log.append(entries);
  }

  /** The uncommitted-bytes limit is an estimate (as etcd's): it shrinks as entries are applied. */
  applied(entries: Entry[]): void {
    if (this.uncommittedBytes <= 0) return;
    for (const e of entries) this.uncommittedBytes -= e.data.byteLength;
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
  }

  /**
   * Moves leadership to a caught-up voter: stop taking proposals, catch it up, tell it to campaign.
   * False when that transfer is already under way (or is to ourselves).
   */
  transfer(to: NodeId): boolean {
    if (to === this.settings.id || this.transferee === to) return false;
    if (!this.tracker.isVoter(to))
      throw new ProposalDroppedError(`${to} is not a voter of group ${this.settings.groupId}`);
    this.transferee = to;
    const pr = this.tracker.progress(to)!;
    if (pr.match === this.log.lastIndex()) this.outbox.send({ type: MessageType.TimeoutNow, to });
    else this.replication.sendAppend(to);
    return true;
  }

  // ---- commit ----

  maybeCommit(): boolean {
    if (!this.log.maybeCommit(this.tracker.committed(), this.term())) return false;
    // This term's first commit: reads held until now may be confirmed.
    if (this.log.term(this.log.committed) === this.term()) {
      for (const r of this.readOnly.takeDeferred()) this.readIndex(r.from, r.context);
    }
    return true;
  }

  /** The I/O loop made the log durable up to `last`: the leader counts its own copy only now. */
  persisted(last: Entry): void {
    const self = this.tracker.progress(this.settings.id);
    if (
      self &&
      this.log.term(last.index) === last.term &&
      self.maybeUpdate(last.index) &&
      this.maybeCommit()
    ) {
      this.replication.bcastAppend();
    }
  }

  // ---- reads ----

  /** A read from `from` (this node or a follower that forwarded it), answered once confirmed. */
  readIndex(from: NodeId, context: Uint8Array): void {
    if (this.tracker.voters.length === 1) {
      this.releaseRead(from, this.log.committed, context);
      return;
    }
    if (this.log.term(this.log.committed) !== this.term()) {
      // Until an entry of this term commits, our commit index may be behind the true one.
      this.readOnly.deferUntilCommit(from, context);
      return;
    }
    this.readOnly.add(this.log.committed, from, context, this.settings.id);
    this.replication.bcastHeartbeat(context);
  }

  private ackRead(from: NodeId, context: Uint8Array): void {
    const isVoter = this.tracker.isVoter(from);
    for (const r of this.readOnly.ack(from, context, isVoter, this.tracker.quorum())) {
      this.releaseRead(r.from, r.index, r.context);
    }
  }

  private releaseRead(from: NodeId, index: number, context: Uint8Array): void {
    if (from === this.settings.id) this.outbox.addReadState({ index, context });
    else this.outbox.send({ type: MessageType.ReadIndexResponse, to: from, index, context });
  }

  // ---- messages and reports ----

  /** A message of our term, to the leader. */
  step(m: Message): void {
    const pr = this.tracker.progress(m.from);
    switch (m.type) {
      case MessageType.AppendResponse:
        if (!pr || !this.replication.onAppendResponse(pr, m)) return;
        if (this.maybeCommit()) this.replication.bcastAppend();
        // Pipelining: keep the window full while there is log to send.
        while (this.replication.sendAppend(m.from, false)) {}
        if (m.from === this.transferee && pr.match === this.log.lastIndex()) {
          this.outbox.send({ type: MessageType.TimeoutNow, to: m.from });
        }
        return;
      case MessageType.HeartbeatResponse:
        if (!pr) return;
        this.replication.onHeartbeatResponse(pr, m);
        if (m.context && m.context.byteLength > 0) this.ackRead(m.from, m.context);
        return;
      case MessageType.ReadIndex:
        if (m.context) this.readIndex(m.from, m.context);
        return;
      case MessageType.SnapshotStatus:
        this.reportSnapshot(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.tracker.progress(id);
    if (pr && pr.state === "replicate") pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.tracker.progress(id);
    if (pr?.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    // Whether it worked or not, probe next: the follower's answer says where it is.
    pr.becomeProbe();
    pr.probeSent = true;
  }
}
