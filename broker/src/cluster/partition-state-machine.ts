import type { Entry, GroupId, NodeId, Snapshot } from "../raft/types.js";
import { CommandKind, commandKind, decodePublishBatch } from "./commands.js";
import type { GroupStateMachine } from "./group-runner.js";
import type { LogFeed } from "./log-feed.js";
import type { PartitionLogPort, StoredMessage } from "./ports.js";
import type { ProposalTracker } from "./proposal-tracker.js";
import type { BatchedResult } from "./publish-batcher.js";

/**
 * A data group's state machine: the partition's messages. Offsets and timestamps are decided here,
 * at apply, from the log alone, so every replica stores the same offsets and timestamps; timestamps
 * never go backwards even across leader changes with skewed clocks.
 */
export class PartitionStateMachine implements GroupStateMachine {
  constructor(
    private readonly groupId: GroupId,
    private readonly selfId: NodeId,
    private readonly store: PartitionLogPort,
    private readonly tracker: ProposalTracker<BatchedResult>,
    readonly feed: LogFeed,
    private readonly onLeaderChanged: (leader: NodeId | "") => void,
  ) {}

  async apply(entries: Entry[]): Promise<void> {
    let applied = this.store.appliedIndex(this.groupId);
    let next = this.store.nextOffset(this.groupId);
    let lastTs = this.store.lastTimestamp(this.groupId);
    const stored: StoredMessage[] = [];
    const results: { sequence: number; result: BatchedResult }[] = [];
    let lastIndex = applied;
    for (const e of entries) {
      lastIndex = Math.max(lastIndex, e.index);
      // Entries up to the applied index were stored before a restart: applying twice must not duplicate.
      if (e.index <= applied || commandKind(e.data) !== CommandKind.PublishBatch) continue;
      const batch = decodePublishBatch(e.data);
      const timestampMicros = Math.max(batch.timestampMicros, lastTs);
      lastTs = timestampMicros;
      const firstOffset = next;
      for (const m of batch.messages) {
        stored.push({
          offset: next++,
          timestampMicros,
          key: m.key,
          body: m.body,
          headers: m.headers,
          messageId: m.messageId,
        });
      }
      if (batch.proposer === this.selfId) {
        const offsets = batch.messages.map((_, i) => firstOffset + i);
        results.push({
          sequence: batch.sequence,
          result: { firstOffset, timestampMicros, offsets, duplicates: offsets.map(() => false) },
        });
      }
    }
    if (lastIndex === applied) return;
    await this.store.appendApplied(this.groupId, stored, lastIndex);
    applied = lastIndex;
    this.feed.advance(next);
    for (const r of results) this.tracker.resolve(r.sequence, r.result);
  }

  async restore(snapshot: Snapshot): Promise<void> {
    await this.store.importImage(this.groupId, snapshot.data, snapshot.metadata.index);
    this.feed.advance(this.store.nextOffset(this.groupId));
  }

  onLeaderChange(leader: NodeId | ""): void {
    this.onLeaderChanged(leader);
  }
}
