import { ProposalDroppedError } from "./errors.js";
import { incarnationsAfter } from "./incarnation.js";
import type { RaftLog } from "./raft-log.js";
import type { ProgressTracker } from "./tracker.js";
import { type ConfChange, EntryType, type NodeId } from "./types.js";

// Membership changes (etcd's confchange/): one member at a time, a new one as a learner first, so
// that any two successive configurations' majorities overlap and no joint consensus is needed.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return textEncoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  return JSON.parse(textDecoder.decode(data)) as ConfChange;
}

function without(ids: readonly NodeId[], id: NodeId): readonly NodeId[] {
  return ids.includes(id) ? ids.filter((x) => x !== id) : ids;
}

/** Refuses, before it enters the log, a change that is not one safe single step from `tracker`'s configuration. */
export function checkConfChange(cc: ConfChange, tracker: ProgressTracker): void {
  if (cc.type === "addVoter")
    throw new ProposalDroppedError("add a node as a learner, then promote it once caught up");
  const isVoter = tracker.isVoter(cc.nodeId);
  const isLearner = tracker.isLearner(cc.nodeId);
  if (cc.type === "addLearner" && isVoter) throw new ProposalDroppedError(`${cc.nodeId} is already a voter`);
  if (cc.type === "promote" && !isLearner) throw new ProposalDroppedError(`${cc.nodeId} is not a learner`);
  if (cc.type === "remove" && !isVoter && !isLearner)
    throw new ProposalDroppedError(`${cc.nodeId} is not a member`);
  if (cc.type === "remove" && isVoter && tracker.voters.length === 1) {
    throw new ProposalDroppedError("cannot remove the last voter");
  }
}

/**
 * Applies a committed change to the configuration. `leaderNext` is set while this node leads: a new
 * member then gets a Progress starting there. A change that changes nothing (a repeated add, a
 * promotion of a non-learner) is harmless, as a restarted node replays changes it already has.
 * addVoter comes only from a new group's bootstrap entries (bootstrap.ts); proposals add learners.
 */
export function applyConfChange(
  tracker: ProgressTracker,
  cc: ConfChange,
  leaderNext: number | undefined,
): void {
  const id = cc.nodeId;
  const isVoter = tracker.isVoter(id);
  const isLearner = tracker.isLearner(id);
  // Whether this change admits the node (a repeated add does not): only then is its incarnation recorded.
  const added = (cc.type === "addVoter" && !isVoter) || (cc.type === "addLearner" && !isVoter && !isLearner);
  let voters = tracker.voters;
  let learners = tracker.learners;
  switch (cc.type) {
    case "addVoter":
      learners = without(learners, id);
      if (!isVoter) voters = [...voters, id];
      if (leaderNext !== undefined && !tracker.progress(id)) tracker.addProgress(id, leaderNext, false);
      break;
    case "addLearner":
      if (isVoter || isLearner) break;
      learners = [...learners, id];
      if (leaderNext !== undefined) tracker.addProgress(id, leaderNext, true);
      break;
    case "promote": {
      if (!isLearner) break;
      learners = without(learners, id);
      voters = [...voters, id];
      const pr = tracker.progress(id);
      if (pr) pr.isLearner = false;
      break;
    }
    case "remove":
      voters = without(voters, id);
      learners = without(learners, id);
      tracker.removeProgress(id);
      break;
  }
  tracker.setConfig(voters, learners, incarnationsAfter(tracker.incarnations, cc, added));
}

/**
 * Whether a configuration entry lies in [lo, hi): one committed but not applied yet means this
 * node's membership is about to change. Read a page at a time, so that a long backlog after a
 * restart is not read at once.
 */
export function hasConfChangeIn(log: RaftLog, lo: number, hi: number, pageSize: number): boolean {
  let at = lo;
  while (at < hi) {
    const page = log.slice(at, hi, pageSize);
    for (const e of page) if (e.type === EntryType.ConfChange) return true;
    at += page.length;
  }
  return false;
}
