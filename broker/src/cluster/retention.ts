import type { RetentionSpec } from "../api/engine.js";

// Retention decided from the log alone. The leader proposes a retention entry carrying its clock;
// every replica applies it with this pure function over its identical partition state, so all
// replicas delete exactly the same messages whatever their own clocks say.

/** A run of consecutive messages appended by one apply: the unit retention removes. */
export interface Chunk {
  firstOffset: number;
  count: number;
  bytes: number;
  /** Timestamp of the chunk's newest message (timestamps never decrease within a partition). */
  lastTimestampMicros: number;
}

export interface RetentionInput {
  chunks: readonly Chunk[];
  policy: RetentionSpec;
  /** The proposing leader's clock, carried in the retention entry. */
  nowMicros: number;
  /** Lowest offset some durable consumer has not acknowledged; undefined when none. */
  unacknowledgedFloor?: number;
}

/**
 * How many leading chunks to remove. A chunk goes when it is wholly older than maxAge, or while the
 * partition is over maxBytes / maxMessages (whole chunks, so it ends at or under the limit); never past the unacknowledged floor when the policy keeps
 * unacknowledged messages. The newest chunk is never removed by size or count alone, so a partition
 * with one huge message still serves it.
 */
export function chunksToRemove(input: RetentionInput): number {
  const { chunks, policy } = input;
  let bytes = 0;
  let messages = 0;
  for (const c of chunks) {
    bytes += c.bytes;
    messages += c.count;
  }
  const ageCutoff = policy.maxAgeMs > 0 ? input.nowMicros - policy.maxAgeMs * 1000 : Number.NEGATIVE_INFINITY;
  let remove = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    const isNewest = i === chunks.length - 1;
    const tooOld = c.lastTimestampMicros < ageCutoff;
    const overBytes = policy.maxBytes > 0 && bytes > policy.maxBytes && !isNewest;
    const overCount = policy.maxMessages > 0 && messages > policy.maxMessages && !isNewest;
    if (!(tooOld || overBytes || overCount)) break;
    if (
      policy.keepUnacknowledged &&
      input.unacknowledgedFloor !== undefined &&
      c.firstOffset + c.count > input.unacknowledgedFloor
    ) {
      break;
    }
    bytes -= c.bytes;
    messages -= c.count;
    remove++;
  }
  return remove;
}
