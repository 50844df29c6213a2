import type { RaftSettings } from "./config.js";
import { SnapshotTemporarilyUnavailableError } from "./errors.js";
import type { Outbox } from "./outbox.js";
import type { Progress } from "./progress.js";
import type { RaftLog } from "./raft-log.js";
import type { ProgressTracker } from "./tracker.js";
import {
  CompactedError,
  type Entry,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
} from "./types.js";

/**
 * Log replication, both ends (the Append/Heartbeat/Snapshot half of etcd's raft.go): what the leader
 * sends each follower according to its Progress, how it reads their answers, and how a follower takes
 * what it is sent. Commit and leadership decisions stay with raft.ts.
 */
export class Replication {
  constructor(
    private readonly settings: RaftSettings,
    private readonly log: RaftLog,
    private readonly tracker: ProgressTracker,
    private readonly outbox: Outbox,
  ) {}

  // ---- leader: sending ----

  bcastAppend(): void {
    for (const pr of this.tracker.progresses) if (pr.id !== this.settings.id) this.sendAppend(pr.id);
  }

  /** A heartbeat to every follower; `context` marks a read being confirmed (read-only.ts). */
  bcastHeartbeat(context?: Uint8Array): void {
    for (const pr of this.tracker.progresses) {
      const id = pr.id;
      if (id === this.settings.id) continue;
      this.outbox.send({
        type: MessageType.Heartbeat,
        to: id,
        // Not past the follower's match: it must not commit entries it may not hold.
        commit: Math.min(pr.match, this.log.committed),
        ...(context ? { context } : {}),
      });
    }
  }

  /** Sends the follower what it lacks (or a snapshot); false when nothing was sent. */
  sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.tracker.progress(to);
    if (!pr || pr.isPaused()) return false;
    let logTerm: number;
    let entries: Entry[];
    try {
      logTerm = this.log.termOrThrow(pr.next - 1);
      entries =
        pr.next > this.log.lastIndex()
          ? []
          : this.log.slice(pr.next, this.log.lastIndex() + 1, this.settings.maxSizePerMsg);
    } catch (err) {
      if (!(err instanceof CompactedError)) throw err;
      return this.sendSnapshot(pr);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.outbox.send({
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

  /** The follower needs entries already compacted away: it gets the latest snapshot instead. */
  private sendSnapshot(pr: Progress): boolean {
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    this.outbox.send({ type: MessageType.Snapshot, to: pr.id, snapshot });
    pr.becomeSnapshot(snapshot.metadata.index);
    this.settings.logger?.(
      `${this.settings.id} sends snapshot at ${snapshot.metadata.index} to ${pr.id} in group ${this.settings.groupId}`,
    );
    return true;
  }

  // ---- leader: answers ----

  /** A follower's answer to an Append; true when its match moved forward (something may commit). */
  onAppendResponse(pr: Progress, m: Message): boolean {
    pr.recentActive = true;
    if (m.reject) {
      let next = m.rejectHint;
      if (m.logTerm > 0) next = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, next)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return false;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from);
      return false;
    }
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);
    return true;
  }

  onHeartbeatResponse(pr: Progress, m: Message): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // Appends may have been lost with the window full: free a slot so replication resumes
    // (a gap then shows up as a rejection and the follower is probed).
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
  }

  // ---- follower ----

  acceptAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.outbox.send({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.outbox.send({ type: MessageType.AppendResponse, to: m.from, index: lastNew });
      return;
    }
    // A rejection says where our log could match, so the leader skips a whole term per round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.outbox.send({
      type: MessageType.AppendResponse,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  acceptHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.outbox.send({
      type: MessageType.HeartbeatResponse,
      to: m.from,
      ...(m.context ? { context: m.context } : {}),
    });
  }

  /** `restore` installs the snapshot (raft.ts: it also replaces the configuration); false when it was not needed. */
  acceptSnapshot(m: Message, restore: (snap: Snapshot) => boolean): void {
    const snap = m.snapshot;
    if (!snap) return;
    const index = restore(snap) ? this.log.lastIndex() : this.log.committed;
    this.outbox.send({ type: MessageType.AppendResponse, to: m.from, index });
  }
}
