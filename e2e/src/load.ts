import type { RegionClient } from "./broker-client.js";

// A steady publisher for scenarios that change the cluster under load, and the check that every
// acknowledged message was stored once in publish order.

export interface LoadResult {
  acked: number[];
  errors: number;
  lastError?: string;
}

/**
 * The message numbers of one topic, over every load and scenario: each is used once. A failed
 * publish uses its number up too; a later load that reused it (numbering from the count of acked
 * ones) would ack it after higher numbers were stored, which the order check reads as a broker
 * storing acknowledged messages out of order.
 */
export class MessageNumbers {
  private next: number;

  constructor(first = 1) {
    this.next = first;
  }

  take(): number {
    return this.next++;
  }

  /** Numbers below `n` were used elsewhere (a scenario that published its own). */
  usedBelow(n: number): void {
    this.next = Math.max(this.next, n);
  }
}

/** Publishes the next numbers one at a time until stopped; after a failed publish it goes on with the next number. */
export function startLoad(
  topic: string,
  numbers: MessageNumbers,
  connect: () => Promise<RegionClient>,
): { stop(): Promise<LoadResult>; progress(): LoadResult } {
  const result: LoadResult = { acked: [], errors: 0 };
  let running = true;
  const loop = (async () => {
    let client: RegionClient | undefined;
    while (running) {
      const seq = numbers.take();
      try {
        client ??= await connect();
        await client.broker.publish({ topic, body: Buffer.from(String(seq)) }, { timeoutMs: 10_000 });
        result.acked.push(seq);
      } catch (err) {
        result.errors += 1;
        result.lastError = (err as Error).message;
        client?.close();
        client = undefined;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    client?.close();
  })();
  return {
    progress: () => result,
    async stop() {
      running = false;
      await loop;
      return result;
    },
  };
}

/**
 * Message numbers in stored order: every acked one present, the first occurrences of acked ones
 * ascending. A publish that timed out may still have been committed, later than the next one
 * (it was in flight to a leader that changed): such unacknowledged numbers do not count for order.
 */
export function checkDelivered(
  stored: number[],
  acked: number[],
): { missing: number[]; outOfOrder: number; duplicates: number } {
  const seen = new Set<number>();
  const wasAcked = new Set(acked);
  let previous = 0;
  let outOfOrder = 0;
  let duplicates = 0;
  for (const n of stored) {
    if (seen.has(n)) {
      duplicates += 1;
      continue;
    }
    seen.add(n);
    if (!wasAcked.has(n)) continue;
    if (n < previous) outOfOrder += 1;
    previous = n;
  }
  return { missing: acked.filter((n) => !seen.has(n)), outOfOrder, duplicates };
}
