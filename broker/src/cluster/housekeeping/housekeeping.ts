import type { LogStorePort, PartitionLogPort } from "../../engine/ports.js";
import type { ConfState, GroupId } from "../../raft/types.js";
import { unacknowledgedFloor } from "../consumers/consumer-records.js";
import type { NodeContext } from "../node-context.js";
import { encodeRetentionEntry } from "../state/commands.js";
import type { MetadataState } from "../state/metadata-state.js";
import { hasLimits, type RetentionEntry } from "../state/retention.js";

// The periodic upkeep of a node's groups, as functions of what they read, shared by the node
// (cluster-node.ts) and the full-stack simulation.

const noMembers: ConfState = { voters: [], learners: [], votersOutgoing: [] };

/**
 * Keeps a group's Raft log bounded: once 2 * keep applied entries are held, all but the last `keep`
 * are dropped (a follower further behind gets a snapshot of the state machine instead).
 */
export async function compactIfDue(
  logStore: LogStorePort,
  groupId: GroupId,
  core: { status(): { applied: number }; confState(): ConfState },
  keep: number,
): Promise<boolean> {
  const applied = core.status().applied;
  const first = logStore.open(groupId, noMembers).firstIndex();
  if (applied - first < 2 * keep) return false;
  await logStore.compact(groupId, applied - keep, core.confState());
  return true;
}

/**
 * The retention entry a partition's leader proposes when its policy would remove something: it
 * carries this leader's clock, the policy and the consumers' floor, and every replica applies
 * exactly that (retention.ts), so replicas agree whatever their clocks. Undefined when a local look
 * shows nothing to remove (so an idle partition's log does not grow).
 */
export async function retentionProposal(o: {
  state: MetadataState;
  topic: string;
  partition: number;
  groupId: GroupId;
  store: PartitionLogPort;
  nowMicros: number;
}): Promise<RetentionEntry | undefined> {
  const topic = o.state.topics[o.topic];
  if (!topic || !hasLimits(topic.spec.retention)) return undefined;
  const { store, groupId } = o;
  const first = store.firstOffset(groupId);
  const next = store.nextOffset(groupId);
  const policy = topic.spec.retention;
  const floor = unacknowledgedFloor(o.state.consumers, o.topic, o.partition);
  const entry: RetentionEntry = {
    nowMicros: o.nowMicros,
    policy,
    ...(floor !== undefined ? { unacknowledgedFloor: floor } : {}),
  };
  const oldest = policy.maxAgeMs > 0 ? await store.timestampOf(groupId, first) : undefined;
  const maybe =
    (policy.maxMessages > 0 && next - first > policy.maxMessages) ||
    (policy.maxBytes > 0 && store.retainedBytes(groupId) > policy.maxBytes) ||
    (oldest !== undefined && oldest < entry.nowMicros - policy.maxAgeMs * 1000);
  if (!maybe || (policy.keepUnacknowledged && floor !== undefined && floor <= first)) return undefined;
  return entry;
}

/**
 * Keeps each group's Raft log on this node bounded (compactIfDue); a failure is logged and the
 * group tried again on the next round.
 */
export async function compactLogs(ctx: NodeContext, logStore: LogStorePort): Promise<void> {
  for (const [groupId, runner] of ctx.groups.runners()) {
    try {
      await compactIfDue(logStore, groupId, runner.core, ctx.config.raft.keepLogEntries);
    } catch (err) {
      ctx.logger.warn("log compaction failed", { group: groupId, err: (err as Error).message });
    }
  }
}

/** Each partition this node leads gets a retention entry when its policy would remove something. */
export async function proposeRetention(ctx: NodeContext, nowMicros: number): Promise<void> {
  for (const [groupId, handle] of ctx.groups.partitionEntries()) {
    if (!handle.runner.isLeader) continue;
    const entry = await retentionProposal({
      state: ctx.metadata(),
      topic: handle.topic,
      partition: handle.partition,
      groupId,
      store: ctx.store,
      nowMicros,
    });
    if (!entry) continue;
    try {
      handle.runner.propose(encodeRetentionEntry(entry));
    } catch {
      // leadership moved; the new leader checks on its own schedule
    }
  }
}
