import type { RetentionSpec } from "../../engine/engine.js";

// Retention decided from the log alone. A partition's leader proposes a retention entry carrying
// its clock, the topic's policy as it sees it, and the lowest offset a durable consumer has not
// acknowledged; every replica applies that entry with this pure function over its identical
// partition, so all replicas delete exactly the same messages whatever their own clocks or their
// own view of the metadata say.

export interface RetentionEntry {
  nowMicros: number;
  policy: RetentionSpec;
  /** Lowest offset some durable consumer has not acknowledged; absent when none. */
  unacknowledgedFloor?: number;
}

export interface PartitionExtent {
  first: number;
  next: number;
  /** First offset whose timestamp is at or after nowMicros - maxAge (next when none). */
  firstYoungEnough?: number;
  /** First offset from which the retained bodies fit in maxBytes. */
  firstWithinBytes?: number;
}

/**
 * The first offset to keep. Age removes every message older than maxAge; size and count remove the
 * oldest messages until the partition is at or under the limit, but never the newest message, so a
 * partition with one huge message still serves it. Nothing at or above the unacknowledged floor is
 * removed when the policy keeps unacknowledged messages.
 */
export function retentionCut(extent: PartitionExtent, entry: RetentionEntry): number {
  const { policy } = entry;
  const { first, next } = extent;
  let cut = first;
  if (policy.maxAgeMs > 0 && extent.firstYoungEnough !== undefined)
    cut = Math.max(cut, extent.firstYoungEnough);
  const newest = Math.max(first, next - 1);
  if (policy.maxMessages > 0) cut = Math.max(cut, Math.min(newest, next - policy.maxMessages));
  if (policy.maxBytes > 0 && extent.firstWithinBytes !== undefined)
    cut = Math.max(cut, Math.min(newest, extent.firstWithinBytes));
  if (policy.keepUnacknowledged && entry.unacknowledgedFloor !== undefined)
    cut = Math.min(cut, Math.max(first, entry.unacknowledgedFloor));
  return Math.min(cut, next);
}

export const hasLimits = (p: RetentionSpec): boolean => p.maxAgeMs > 0 || p.maxBytes > 0 || p.maxMessages > 0;
