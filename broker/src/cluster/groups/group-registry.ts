import type { NodeConfig } from "../../config/config.js";
import type { EngineObserver } from "../../engine/engine.js";
import { unavailable } from "../../engine/errors.js";
import type { LogStorePort, PartitionLogPort, PeerTransportPort } from "../../engine/ports.js";
import type { Logger } from "../../observability/logger.js";
import type { ConfState, GroupId, Message, NodeId, RaftStorage } from "../../raft/types.js";
import type { Clock } from "../../util/clock.js";
import type { MetadataState, PartitionPlacement } from "../state/metadata-state.js";
import type { GroupIo, GroupRunner, RaftCore } from "./group-runner.js";
import type { LogFeed } from "./log-feed.js";
import { PartitionGroup } from "./partition-group.js";
import type { PublishBatcher } from "./publish-batcher.js";
import type { ChangeSignal } from "./waiters.js";

// Which Raft groups run on this node: the metadata group, and one data group per partition replica
// the metadata places here. It starts and stops data groups as placements change, routes incoming
// Raft messages to them, and ticks them.

/** A partition replica running on this node. */
export interface PartitionHandle {
  topic: string;
  partition: number;
  runner: GroupRunner;
  feed: LogFeed;
  batcher: PublishBatcher;
  /** Proposals waiting here for their outcome (answered UNAVAILABLE when the node stops). */
  tracker: { rejectAll(err: Error): void };
}

export interface GroupRegistryDeps {
  self: NodeId;
  config: NodeConfig;
  logger: Logger;
  logStore: LogStorePort;
  partitions: PartitionLogPort;
  transport: PeerTransportPort;
  createCore(o: { groupId: GroupId; storage: RaftStorage }): RaftCore;
  changes: ChangeSignal;
  /** Time for the data groups' runners, trackers and batchers (a simulation's is virtual). */
  clock: Clock;
  observer?: EngineObserver;
  proposalTimeoutMs: number;
  /** A group cannot go on (failed fsync): the process must stop. */
  onFatal(err: Error): void;
}

export class GroupRegistry {
  private readonly groups = new Map<GroupId, GroupRunner>();
  private readonly replicas = new Map<GroupId, PartitionHandle>();

  constructor(private readonly deps: GroupRegistryDeps) {}

  /** How every group here persists and sends (through this node's log store and transport). */
  readonly io: GroupIo = {
    persist: (groupId, update) => this.deps.logStore.persist(groupId, update),
    send: (messages) => this.deps.transport.send(messages),
  };

  /** The metadata group's runner, registered once at start. */
  addMetadata(groupId: GroupId, runner: GroupRunner): void {
    this.groups.set(groupId, runner);
  }

  runner(groupId: GroupId): GroupRunner | undefined {
    return this.groups.get(groupId);
  }

  runners(): ReadonlyMap<GroupId, GroupRunner> {
    return this.groups;
  }

  /** The partition replica of a group here, if this node runs one. */
  partition(groupId: GroupId): PartitionHandle | undefined {
    return this.replicas.get(groupId);
  }

  partitionEntries(): IterableIterator<[GroupId, PartitionHandle]> {
    return this.replicas.entries();
  }

  /** The data groups this node runs, with their topic and partition. */
  dataGroups(): { groupId: GroupId; topic: string; partition: number; runner: GroupRunner }[] {
    return [...this.replicas].map(([groupId, h]) => ({
      groupId,
      topic: h.topic,
      partition: h.partition,
      runner: h.runner,
    }));
  }

  receive(messages: Message[]): void {
    for (const m of messages) {
      // A message for a group this node does not run yet (its topic is not applied here yet) is
      // dropped: Raft retries, and the group exists once the metadata entry applies.
      this.groups.get(m.groupId)?.step(m);
    }
  }

  tick(): void {
    for (const runner of this.groups.values()) runner.tick();
  }

  onLeaderChange(groupId: GroupId, leader: NodeId | ""): void {
    this.deps.logger.info("leader changed", { group: groupId, leader });
    this.deps.changes.poke();
  }

  /**
   * Starts the data groups this node should replicate and stops those it no longer should: a
   * replica moving away runs until the move settles (its group's leader has removed it by then).
   */
  reconcile(state: MetadataState): void {
    const self = this.deps.self;
    const wanted = new Map<GroupId, { topic: string; placement: PartitionPlacement }>();
    for (const [name, topic] of Object.entries(state.topics)) {
      // A replica moving away is a voter until the move settles (its leader removed it first): a
      // node that restarts meanwhile must run it, or the group is a voter short (a quorum, at worst).
      for (const p of topic.partitions)
        if (p.replicas.includes(self) || p.moving?.from === self)
          wanted.set(p.groupId, { topic: name, placement: p });
    }
    for (const [groupId, w] of wanted)
      if (!this.replicas.has(groupId)) this.startPartition(groupId, w.topic, w.placement);
    // Not wanted: the topic is gone, or the move away settled, which its leader records only once it
    // has removed this replica. Its own configuration may still list it (a replica down or wiped
    // when it was removed never learns of its removal), so that is no reason to keep it.
    for (const [groupId, handle] of this.replicas) {
      if (wanted.has(groupId)) continue;
      handle.runner.stop();
      handle.feed.wakeAll();
      this.replicas.delete(groupId);
      this.groups.delete(groupId);
    }
    this.deps.changes.poke();
  }

  private startPartition(groupId: GroupId, topic: string, placement: PartitionPlacement): void {
    const { deps } = this;
    const initial = placement.initial ?? placement.replicas;
    const group = new PartitionGroup({
      self: deps.self,
      groupId,
      name: `${topic}/${placement.partition}`,
      bootstrap: confOf(initial.includes(deps.self) ? initial : []),
      logStore: deps.logStore,
      partitions: deps.partitions,
      createCore: deps.createCore,
      io: this.io,
      settings: deps.config.partitions,
      ...(deps.observer ? { observer: deps.observer } : {}),
      proposalTimeoutMs: deps.proposalTimeoutMs,
      clock: deps.clock,
      onLeaderChange: (leader) => this.onLeaderChange(groupId, leader),
      onFatal: (err) => deps.onFatal(err),
    });
    const { runner, feed, batcher, tracker } = group;
    this.replicas.set(groupId, { topic, partition: placement.partition, runner, feed, batcher, tracker });
    this.groups.set(groupId, runner);
    // The preferred replica (first in placement, in the home region when there is one) stands for
    // election at once, so a new topic takes writes without waiting an election timeout.
    if (group.fresh && initial[0] === deps.self) runner.core.campaign();
    runner.schedule();
  }

  /**
   * Stops every group. Publishes still waiting are answered at once (a stopping process must not
   * leave callers waiting out their timeout): UNAVAILABLE, ambiguous, since one may have committed.
   */
  stop(): void {
    for (const runner of this.groups.values()) runner.stop();
    const stopping = unavailable(
      "this node is stopping; the publish may or may not have been committed: retry, with a message id to stay exactly-once",
    );
    for (const h of this.replicas.values()) {
      h.feed.wakeAll();
      h.tracker.rejectAll(stopping);
    }
  }
}

export function confOf(voters: NodeId[]): ConfState {
  return { voters: [...voters], learners: [], votersOutgoing: [] };
}
