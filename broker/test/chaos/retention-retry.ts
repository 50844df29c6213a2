import type { ProcessCluster } from "../support/process-cluster.js";
import { untilDone } from "./churn.js";
import type { HistoryLog } from "./history-log.js";
import type { Fault } from "./schedule.js";
import { type Ack, clientsOf, sleep } from "./workload.js";

// retention-retry: the mix that once diverged publish deduplication. The topic's age limit drops to
// a few seconds, so retention removes each partition's prefix (on every replica, at one offset); the
// partition's leader is killed and restarted; and all the while a retrier re-publishes messages that
// were acknowledged long ago (most of them already removed by retention) and just now, with their
// message ids, at every live node in turn. The dedup window outlives the messages (it is in the log
// and the snapshot, `partitions.dedupWindowMs`), so each retry must be answered with the offset its
// message already has and never be stored again: the checker's `duplicated` rule holds it to that.

/** The short age limit while the fault lasts. */
export const shortRetentionMs = 4000;

export interface RetentionRun {
  topic: string;
  history: HistoryLog;
  /** The long age limit the topic has otherwise. */
  retentionMaxAgeMs: number;
  /** The acknowledged publishes of a partition so far, in order. */
  acked: (partition: number) => Ack[];
  /** The dedup window (partitions.dedupWindowMs): retries stay well inside it. */
  dedupWindowMs: number;
}

let retriers = 0;

/** When the last short window ended (performance.now()), for the test's own final checks. */
export const retentionWindow: { endedAt: number | undefined } = { endedAt: undefined };

/** What the retriers were answered, per fault, for the run's log. */
export const retryOutcomes: string[] = [];

export async function setRetention(cluster: ProcessCluster, topic: string, maxAgeMs: number): Promise<void> {
  await untilDone(cluster, `UpdateTopic ${topic} retention ${maxAgeMs} ms`, 30_000, (c, o) =>
    c.topics.updateTopic(
      { name: topic, retention: { maxAgeMs: BigInt(maxAgeMs), keepUnacknowledged: true } },
      o,
    ),
  );
}

/** Messages to retry: some acknowledged 6 s to 3/4 of the dedup window ago, and the latest few. */
function pickRetries(acked: Ack[], dedupWindowMs: number): Ack[] {
  const now = performance.now();
  const old = acked.filter((a) => a.at < now - 6000 && a.at > now - dedupWindowMs * 0.75);
  const step = Math.max(1, Math.floor(old.length / 15));
  return [...old.filter((_, i) => i % step === 0).slice(0, 15), ...acked.slice(-5)];
}

/**
 * Re-publishes the picked messages with their ids until `stop.done`, recording every attempt
 * (invoke with `retry`, then ok or info). Returns how many retries were answered, and how many with
 * another offset than the message's own (must be none).
 */
export async function retryAcked(
  cluster: ProcessCluster,
  run: RetentionRun,
  f: Fault,
  stop: { done: boolean },
): Promise<{ answered: number; moved: number }> {
  const process = `retrier-${++retriers}`;
  const picked = pickRetries(run.acked(f.partition), run.dedupWindowMs);
  const out = { answered: 0, moved: 0 };
  for (let i = 0; !stop.done && picked.length > 0; i++) {
    const m = picked[i % picked.length]!;
    const live = cluster.nodes.filter((n) => n.child);
    const node = live[i % Math.max(1, live.length)];
    if (!node) {
      await sleep(100);
      continue;
    }
    const c = clientsOf(node);
    run.history.record({
      type: "invoke",
      process,
      partition: f.partition,
      id: m.body,
      body: m.body,
      retry: true,
    });
    try {
      const r = await c.publish.publish(
        {
          topic: run.topic,
          partition: f.partition,
          body: new TextEncoder().encode(m.body),
          messageId: m.body,
        },
        { headers: c.headers, timeoutMs: 1000 },
      );
      run.history.record({
        type: "ok",
        process,
        partition: f.partition,
        id: m.body,
        offset: Number(r.offset),
      });
      out.answered++;
      if (r.offset !== m.offset) out.moved++;
    } catch (err) {
      run.history.record({
        type: "info",
        process,
        partition: f.partition,
        id: m.body,
        error: (err as Error).message.slice(0, 80),
      });
    }
    await sleep(30);
  }
  return out;
}
