import type { HistoryEvent } from "./events.js";

// What retention may have removed, as the history shows it: between a `retention` start and end the
// topic's age limit was short, so each partition may have lost a prefix. The final reads tell where
// each node's log now starts. The rules excuse exactly this and nothing more: a missing message must
// lie below the first offset the final read holds, and must have been acknowledged before the last
// short window ended (after it, the long limit is back and no run reaches it).

export interface RetentionView {
  /** When the last short window ended (Infinity: still open at the end); undefined: there was none. */
  windowEnd: number | undefined;
  /** When the first short window started (Infinity: none). */
  windowStart: number;
  /** partition -> final reader -> the lowest offset it holds. */
  firstHeld: Map<number, Map<string, number>>;
}

export function retentionView(h: HistoryEvent[]): RetentionView {
  let windowEnd: number | undefined;
  let windowStart = Number.POSITIVE_INFINITY;
  const firstHeld = new Map<number, Map<string, number>>();
  for (const e of h) {
    if (e.type === "retention") {
      if (e.phase === "start") {
        windowStart = Math.min(windowStart, e.t);
        windowEnd = Number.POSITIVE_INFINITY;
      } else windowEnd = e.t;
    } else if (e.type === "deliver" && e.final) {
      const byReader = firstHeld.get(e.partition) ?? new Map<string, number>();
      firstHeld.set(e.partition, byReader);
      byReader.set(e.reader, Math.min(byReader.get(e.reader) ?? e.offset, e.offset));
    }
  }
  return { windowEnd, windowStart, firstHeld };
}

/**
 * May retention have removed the message at `offset` from `reader`'s final read? Only below the
 * first offset it holds, and (when the ack time is known) only if it was acknowledged before the
 * last short window ended.
 */
export function removedByRetention(
  r: RetentionView,
  partition: number,
  offset: number,
  reader: string,
  ackedAt?: number,
): boolean {
  if (r.windowEnd === undefined) return false;
  if (ackedAt !== undefined && ackedAt >= r.windowEnd) return false;
  const first = r.firstHeld.get(partition)?.get(reader);
  return first !== undefined && offset < first;
}

/** The highest first offset of any final read of the partition: below it, retention cut (0: none). */
export function retentionCut(r: RetentionView, partition: number): number {
  if (r.windowEnd === undefined) return 0;
  return Math.max(0, ...(r.firstHeld.get(partition)?.values() ?? []));
}
