import type { StoredMessage } from "../../engine/message.js";
import type { PartitionLogPort } from "../../engine/ports.js";
import type { Entry, GroupId, NodeId, Snapshot } from "../../raft/types.js";
import type { GroupStateMachine } from "../groups/group-runner.js";
import type { LogFeed } from "../groups/log-feed.js";
import type { ProposalTracker } from "../groups/proposal-tracker.js";
import type { BatchedResult } from "../groups/publish-batcher.js";
import { decodePublishBatch, decodeRetentionEntry, isPublishBatch, isRetentionEntry } from "./commands.js";
import { type DedupParams, DedupWindow, legacyDedupParams } from "./dedup-window.js";
import { type RetentionEntry, retentionCut } from "./retention.js";

export interface PartitionSettingsView {
  dedupWindowMs: number;
  dedupMaxIds: number;
}

export interface RetentionObserver {
  removed(messages: number, bytes: number): void;
}

/**
 * A data group's state machine: the partition's messages. Offsets, timestamps, deduplication and
 * retention are decided here, at apply, from the log alone, so every replica stores the same
 * messages at the same offsets; timestamps never go backwards even across leader changes with
 * skewed clocks.
 */
export class PartitionStateMachine implements GroupStateMachine {
  /** Loaded from the stored dedup rows on first use (after a start or a snapshot). */
  private dedup: DedupWindow | undefined;

  constructor(
    private readonly groupId: GroupId,
    readonly _selfId: NodeId,
    private readonly store: PartitionLogPort,
    private readonly tracker: ProposalTracker<BatchedResult>,
    readonly feed: LogFeed,
    private readonly onLeaderChanged: (leader: NodeId | "") => void,
    private readonly settings: PartitionSettingsView,
    private readonly observer?: RetentionObserver,
  ) {}

  /**
   * The dedup window this node's publish batches should carry (`PublishBatch.dedup`). Apply never
   * reads the node's own settings: replicas configured differently would keep different windows.
   */
  get proposedDedup(): DedupParams {
    return { windowMicros: this.settings.dedupWindowMs * 1000, maxIds: this.settings.dedupMaxIds };
  }

  private async window(): Promise<DedupWindow> {
    this.dedup ??= new DedupWindow(await this.store.dedupWindow(this.groupId));
    return this.dedup;
  }

  async apply(entries: Entry[]): Promise<void> {
    const g = this.groupId;
    const applied = this.store.appliedIndex(g);
    let next = this.store.nextOffset(g);
    let lastTs = this.store.lastTimestamp(g);
    const dedup = await this.window();
    // What this run has applied and not yet written: messages, dedup changes, up to `pending`.
    let stored: StoredMessage[] = [];
    let pending = applied;
    const write = async (onVisible?: () => void) => {
      if (pending > this.store.appliedIndex(g))
        await this.store.appendApplied(g, stored, pending, dedup.takeChanges(), onVisible);
      else onVisible?.();
      stored = [];
    };
    const results: { sequence: number; result: BatchedResult }[] = [];
    for (const e of entries) {
      // Entries up to the applied index were stored before a restart: applying twice must not duplicate.
      if (e.index <= applied) continue;
      if (isRetentionEntry(e.data)) {
        // What came before is written first (up to the entry before this one), so retention sees
        // the partition as the log has it, and commits its own outcome with its own index.
        await write();
        await this.applyRetention(decodeRetentionEntry(e.data), e.index);
        pending = e.index;
        continue;
      }
      pending = e.index;
      if (!isPublishBatch(e.data)) continue;
      const batch = decodePublishBatch(e.data);
      const params = batch.dedup ?? legacyDedupParams;
      const timestampMicros = Math.max(batch.timestampMicros, lastTs);
      lastTs = timestampMicros;
      dedup.expire(timestampMicros, params);
      const offsets: number[] = [];
      const duplicates: boolean[] = [];
      for (const m of batch.messages) {
        const earlier = m.messageId ? dedup.lookup(m.messageId) : undefined;
        if (earlier !== undefined) {
          offsets.push(earlier);
          duplicates.push(true);
          continue;
        }
        const offset = next++;
        if (m.messageId) dedup.record(m.messageId, offset, timestampMicros);
        stored.push({
          offset,
          timestampMicros,
          key: m.key,
          body: m.body,
          headers: m.headers,
          messageId: m.messageId,
        });
        offsets.push(offset);
        duplicates.push(false);
      }
      dedup.trim(params);
      if (batch.proposer === this.tracker.proposer) {
        results.push({
          sequence: batch.sequence,
          result: { firstOffset: offsets[0] ?? next, timestampMicros, offsets, duplicates },
        });
      }
    }
    if (pending === applied) return;
    // Acknowledged once a read here sees the messages, not once their rows are written: they are
    // committed (fsynced on a majority) already, and the write is only this replica's copy of the
    // log (replayed from the Raft log if it is lost). Saves an unsynced write's round trip per ack.
    await write(() => {
      this.feed.advance(next);
      for (const r of results) this.tracker.resolve(r.sequence, r.result);
    });
  }

  /** Cuts the partition as the entry says; the outcome is committed with `index` in one batch. */
  private async applyRetention(entry: RetentionEntry, index: number): Promise<void> {
    const g = this.groupId;
    const first = this.store.firstOffset(g);
    const next = this.store.nextOffset(g);
    const { policy } = entry;
    const cut = retentionCut(
      {
        first,
        next,
        ...(policy.maxAgeMs > 0
          ? {
              firstYoungEnough: await this.store.offsetForTimestamp(
                g,
                entry.nowMicros - policy.maxAgeMs * 1000,
              ),
            }
          : {}),
        ...(policy.maxBytes > 0
          ? { firstWithinBytes: await this.store.offsetWithinBytes(g, policy.maxBytes) }
          : {}),
      },
      entry,
    );
    if (cut <= first) return;
    const bytes = await this.store.retain(g, cut, index);
    this.observer?.removed(cut - first, bytes);
  }

  async restore(snapshot: Snapshot): Promise<void> {
    await this.store.importImage(this.groupId, snapshot.data, snapshot.metadata.index);
    this.dedup = undefined;
    this.feed.advance(this.store.nextOffset(this.groupId));
  }

  onLeaderChange(leader: NodeId | ""): void {
    this.onLeaderChanged(leader);
  }
}
