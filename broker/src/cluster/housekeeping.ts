import type { ConfState, GroupId } from "../raft/types.js";
import { unacknowledgedFloor } from "./consumer-records.js";
import type { MetadataState } from "./metadata-state.js";
import type { LogStorePort, PartitionLogPort } from "./ports.js";
import { hasLimits, type RetentionEntry } from "./retention.js";

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
