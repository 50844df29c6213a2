import type { DeliveredMessage, ReplicaStatus, StartSpec } from "../../engine/engine.js";
import { unavailable } from "../../engine/errors.js";
import type { PartitionLogPort } from "../../engine/ports.js";
import type { GroupId } from "../../raft/types.js";
import { type Clock, every, nowMs, timeoutSignal } from "../../util/clock.js";
import type { GroupRunner } from "../groups/group-runner.js";
import type { LogFeed } from "../groups/log-feed.js";

// The read path on a replica: what a reader of a partition is guaranteed, and how the code keeps it
// (docs/raft.md, "Read guarantees"). A reader gets the replica's committed prefix, gap-free, in
// offset order; it can ask for a linearizable start (ReadIndex); it is told when the replica has not
// heard from its leader for longer than a bound; and a publish through a node answers only once that
// node's replica holds the message (read-your-writes), or says plainly that it does not.

const readBatchMessages = 512;
const readBatchBytes = 1024 * 1024;
/** How long a linearizable start waits for the leader's confirmation. */
const readIndexTimeoutMs = 5_000;
/** How long a publish through a node waits for that node's replica before saying it lags. */
export const ownWriteWaitMs = 5_000;
/**
 * A publish's wait for this node's replica ends early once the replica has not heard from its leader
 * for this many staleness bounds (election timeouts). One was too few: on a loaded machine (load 15,
 * 2 cores) a healthy follower went 530 ms without a heartbeat at a 500 ms timeout, and a publish
 * through it failed although its replica caught up a moment later (multi-process.test.ts). After two,
 * the follower has campaigned and found no leader: it is cut off.
 */
export const ownWriteCutOffBounds = 2;

/**
 * How long a follower replica has not heard from its leader, when that is longer than `staleAfterMs`
 * (undefined: it leads, heard within the bound, or never heard yet: a node just started, which its
 * leader will reach in a moment).
 */
export function cutOffFor(
  runner: Pick<GroupRunner, "isLeader" | "heardFromLeaderAt">,
  clock: Clock,
  staleAfterMs: number,
): number | undefined {
  if (runner.isLeader || runner.heardFromLeaderAt === 0) return undefined;
  const age = nowMs(clock) - runner.heardFromLeaderAt;
  return age > staleAfterMs ? age : undefined;
}

/** A partition replica on this node. */
export interface LocalReplica {
  runner: GroupRunner;
  feed: LogFeed;
}

export interface PartitionReaderDeps {
  store: PartitionLogPort;
  /** The replica of a group here now; another object once the group was stopped and started again. */
  local(groupId: GroupId): LocalReplica | undefined;
  /** A replica that has not heard from its leader for longer is reported stale (one election timeout). */
  staleAfterMs: number;
  clock: Clock;
  delivered?(lagSeconds: number): void;
}

export interface ReadOptions {
  linearizableStart?: boolean;
  onStatus?: (status: ReplicaStatus) => void;
}

export class PartitionReader {
  constructor(private readonly deps: PartitionReaderDeps) {}

  /** How current the replica is: the leader is; a follower by the age of its last word from the leader. */
  status(groupId: GroupId, partition: number, replica: LocalReplica): ReplicaStatus {
    const { runner } = replica;
    const heard = runner.heardFromLeaderAt;
    const age = runner.isLeader ? 0 : heard === 0 ? -1 : Math.round(nowMs(this.deps.clock) - heard);
    return {
      partition,
      leaderContactAgeMs: age,
      stale: !runner.leader || age < 0 || age > this.deps.staleAfterMs,
      nextOffset: this.deps.store.nextOffset(groupId),
    };
  }

  /**
   * The partition's messages from `start` on, from this node's replica, until the signal aborts or
   * the replica here stops (the caller then reads on elsewhere from the last offset it got).
   */
  async *read(
    topic: string,
    groupId: GroupId,
    partition: number,
    start: StartSpec,
    signal: AbortSignal,
    options: ReadOptions = {},
  ): AsyncGenerator<DeliveredMessage> {
    const replica = this.deps.local(groupId);
    if (!replica) throw unavailable(`${topic}/${partition} is no longer replicated here; retry`);
    const store = this.deps.store;
    // Linearizable start: first catch up with what the leader had committed when the call began, so
    // `latest` or a timestamp is not evaluated against an old prefix.
    if (options.linearizableStart && start.kind !== "earliest")
      await replica.runner.readIndex(signal, readIndexTimeoutMs);
    let next =
      start.kind === "earliest"
        ? store.firstOffset(groupId)
        : start.kind === "latest"
          ? store.nextOffset(groupId)
          : start.kind === "offset"
            ? Math.max(start.offset, store.firstOffset(groupId))
            : await store.offsetForTimestamp(groupId, start.timestampMicros);
    const report = options.onStatus;
    let reported: ReplicaStatus | undefined;
    let reportedAt = 0;
    const maybeReport = (force: boolean) => {
      if (!report) return;
      const s = this.status(groupId, partition, replica);
      if (force || !reported || s.stale !== reported.stale) {
        reported = s;
        reportedAt = nowMs(this.deps.clock);
        report(s);
      }
    };
    maybeReport(true);
    while (!signal.aborted) {
      if (this.deps.local(groupId) !== replica) return; // stopped here (moved away, topic deleted)
      const batch = await store.read(groupId, next, readBatchMessages, readBatchBytes);
      if (batch.length === 0) {
        // Retention may have removed what we wanted next: continue from the oldest retained message.
        next = Math.max(next, store.firstOffset(groupId));
        if (!report) {
          await replica.feed.waitFor(next, signal);
          continue;
        }
        // While idle, wake at least once per bound so a replica cut off from its leader says so.
        const idle = timeoutSignal(this.deps.clock, this.deps.staleAfterMs, signal);
        await replica.feed.waitFor(next, idle.signal);
        idle.cancel();
        maybeReport(nowMs(this.deps.clock) - reportedAt >= this.deps.staleAfterMs);
        continue;
      }
      for (const m of batch) {
        this.deps.delivered?.(Math.max(0, this.deps.clock.nowMicros() - m.timestampMicros) / 1e6);
        yield {
          topic,
          partition,
          offset: m.offset,
          timestampMicros: m.timestampMicros,
          key: m.key,
          body: m.body,
          headers: m.headers,
        };
        next = m.offset + 1;
      }
      maybeReport(false);
    }
  }

  /**
   * Read-your-writes for a publish forwarded to the leader: the ack waits until this node's replica
   * holds the message, so the publisher's next read here sees it. The message is durable either way;
   * when the replica does not catch up in time the caller is told so (UNAVAILABLE, with the id)
   * instead of getting an ack that a read here would contradict.
   */
  async waitForOwnWrite(
    replica: LocalReplica,
    id: string,
    offset: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { clock } = this.deps;
    const cutOffAfterMs = ownWriteCutOffBounds * this.deps.staleAfterMs;
    const waited = timeoutSignal(clock, ownWriteWaitMs, signal);
    // A replica that stopped hearing from its leader (this node is cut off, or the leader is gone)
    // cannot catch up until it hears again: say so once it is stale instead of after the whole
    // wait, so that the client tries another node at once (the chaos suite's cut-off followers
    // held publishes for up to a second more, issue 20). What the client is told is the same.
    const cutOff = new AbortController();
    const stopWatching = every(clock, Math.max(10, cutOffAfterMs / 8), () => {
      if (cutOffFor(replica.runner, clock, cutOffAfterMs) !== undefined) cutOff.abort();
    });
    await replica.feed.waitFor(offset, AbortSignal.any([waited.signal, cutOff.signal])).finally(() => {
      waited.cancel();
      stopWatching();
    });
    if (offset < replica.feed.next || signal.aborted) return;
    const silentMs = cutOffFor(replica.runner, clock, cutOffAfterMs);
    throw unavailable(
      `published durably as ${id} (committed by the partition's leader), but this node's replica has ` +
        `not applied it ${
          silentMs === undefined
            ? `within ${ownWriteWaitMs} ms`
            : `(it has not heard from the partition's leader for ${Math.round(silentMs)} ms)`
        }, so a read here would not see it yet. Do not resend ` +
        `without a message_id (a resend with the same message_id is stored once); read through another node, or retry later`,
    );
  }
}
