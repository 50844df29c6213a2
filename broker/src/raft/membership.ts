import { applyConfChange, decodeConfChange, hasConfChangeIn } from "./confchange.js";
import type { RaftSettings } from "./config.js";
import { admitted, type SelfIncarnation } from "./incarnation.js";
import type { RaftLog } from "./raft-log.js";
import type { ProgressTracker } from "./tracker.js";
import { type ConfChange, type ConfState, EntryType } from "./types.js";

/**
 * This node's view of the group's membership over time (the configuration half of etcd's raft.go):
 * the configuration it starts from, the committed changes it replays at start, each change as it
 * applies, a snapshot's configuration, and whether this incarnation may vote under it
 * (incarnation.ts says why it may not always).
 */
export class Membership {
  /** Configuration entries up to here took effect when the node started (see replayCommitted). */
  private replayedTo = 0;
  private readonly self: SelfIncarnation;
  /** Said once that this incarnation may not vote here (and said again once it may). */
  private notAdmittedLogged = false;

  constructor(
    private readonly settings: RaftSettings,
    private readonly tracker: ProgressTracker,
    private readonly log: RaftLog,
  ) {
    this.self = { incarnation: settings.incarnation, original: settings.original };
  }

  /**
   * Committed configuration entries not yet applied (a new group's bootstrap entries, or those
   * replayed after a restart) take effect at start: they are committed, so the membership is known
   * before the state machine catches up, and applying them again later changes nothing.
   */
  replayCommitted(): void {
    for (const e of this.log.slice(this.log.applied + 1, this.log.committed + 1)) {
      if (e.type === EntryType.ConfChange) this.apply(decodeConfChange(e.data), undefined, undefined);
    }
    this.replayedTo = this.log.committed;
    this.noteAdmission();
  }

  /**
   * Applies a committed change (`leaderNext`: see confchange.ts); false when it is skipped. `index`
   * is the entry's: a change replayed at start (index <= replayedTo) is not applied again, or a
   * restarted node replaying its backlog would pass through every older configuration on the way (a
   * removed and re-added learner would be a voter for a while; a leader would count the wrong quorum).
   */
  apply(cc: ConfChange, index: number | undefined, leaderNext: number | undefined): boolean {
    if (index !== undefined && index <= this.replayedTo) return false;
    applyConfChange(this.tracker, cc, leaderNext);
    this.noteAdmission();
    return true;
  }

  /** A snapshot replaced the log: its configuration replaces ours. */
  restore(cs: ConfState): void {
    this.tracker.setConfState(cs);
    this.noteAdmission();
  }

  /** A committed configuration change waits to apply: this node's membership is about to change. */
  hasUnappliedChanges(): boolean {
    const lo = Math.max(this.log.applied + 1, this.replayedTo + 1, this.log.firstIndex());
    return hasConfChangeIn(this.log, lo, this.log.committed + 1, this.settings.maxSizePerMsg);
  }

  /** Whether the configuration admitted this incarnation: only then may it vote or campaign. */
  admitted(): boolean {
    return admitted(this.tracker.incarnations[this.settings.id], this.self);
  }

  /** Says (once per change) when this node is a voter it may not act as, and when that ends. */
  private noteAdmission(): void {
    const { id, groupId, logger } = this.settings;
    const ok = this.admitted();
    if (!ok && !this.notAdmittedLogged && this.tracker.isVoter(id)) {
      this.notAdmittedLogged = true;
      const recorded = this.tracker.incarnations[id];
      logger?.(
        `${id} does not vote or campaign in group ${groupId}: the configuration admits ${
          recorded ? `incarnation ${recorded}` : "only its original incarnation"
        }, this is ${this.self.incarnation ?? "unknown"} (state lost: it votes again once re-added under it)`,
      );
    } else if (ok && this.notAdmittedLogged) {
      this.notAdmittedLogged = false;
      logger?.(`${id} was admitted to group ${groupId} as incarnation ${this.self.incarnation}`);
    }
  }
}
