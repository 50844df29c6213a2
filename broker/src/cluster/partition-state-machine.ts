import type { Entry, GroupId, NodeId, Snapshot } from "../raft/types.js";
import { CommandKind, commandKind, decodeJsonCommand, decodePublishBatch } from "./commands.js";
import { DedupWindow } from "./dedup-window.js";
import type { GroupStateMachine } from "./group-runner.js";
import type { LogFeed } from "./log-feed.js";
import type { PartitionLogPort, StoredMessage } from "./ports.js";
import type { ProposalTracker } from "./proposal-tracker.js";
import type { BatchedResult } from "./publish-batcher.js";
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
  /** Rebuilt from the stored messages' ids on first use (after a start or a snapshot). */
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

  private async window(): Promise<DedupWindow> {
    if (!this.dedup) {
      const windowMicros = this.settings.dedupWindowMs * 1000;
      const since = this.store.lastTimestamp(this.groupId) - windowMicros;
      this.dedup = new DedupWindow(windowMicros, this.settings.dedupMaxIds);
      for (const r of await this.store.messageIdsSince(this.groupId, since))
        this.dedup.record(r.id, r.offset, r.timestampMicros);
    }
    return this.dedup;
  }

  async apply(entries: Entry[]): Promise<void> {
    const applied = this.store.appliedIndex(this.groupId);
    let next = this.store.nextOffset(this.groupId);
    let lastTs = this.store.lastTimestamp(this.groupId);
    let stored: StoredMessage[] = [];
    const results: { sequence: number; result: BatchedResult }[] = [];
    let lastIndex = applied;
    const dedup = await this.window();
    for (const e of entries) {
      // Entries up to the applied index were stored before a restart: applying twice must not duplicate.
      if (e.index <= applied) continue;
      lastIndex = e.index;
      const kind = commandKind(e.data);
      if (kind === CommandKind.Retention) {
        // What came before in this run is written first: retention sees the partition as the log has it.
        await this.store.appendApplied(this.groupId, stored, e.index);
        stored = [];
        await this.applyRetention(decodeJsonCommand<RetentionEntry>(e.data));
        continue;
      }
      if (kind !== CommandKind.PublishBatch) continue;
      const batch = decodePublishBatch(e.data);
      const timestampMicros = Math.max(batch.timestampMicros, lastTs);
      lastTs = timestampMicros;
      const offsets: number[] = [];
      const duplicates: boolean[] = [];
      for (const m of batch.messages) {
        const earlier = m.messageId ? dedup.lookup(m.messageId, timestampMicros) : undefined;
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
      if (batch.proposer === this.tracker.proposer) {
        results.push({
          sequence: batch.sequence,
          result: { firstOffset: offsets[0] ?? next, timestampMicros, offsets, duplicates },
        });
      }
    }
    if (lastIndex === applied) return;
    await this.store.appendApplied(this.groupId, stored, lastIndex);
    this.feed.advance(next);
    for (const r of results) this.tracker.resolve(r.sequence, r.result);
  }

  private async applyRetention(entry: RetentionEntry): Promise<void> {
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
    const bytes = await this.store.deleteBefore(g, cut);
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
