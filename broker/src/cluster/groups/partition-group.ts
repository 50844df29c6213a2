import { Code } from "@connectrpc/connect";
import { BrokerError } from "../../engine/errors.js";
import type { PublishedMessage } from "../../engine/message.js";
import type { LogStorePort, PartitionLogPort } from "../../engine/ports.js";
import type { ConfState, GroupId, NodeId, RaftStorage } from "../../raft/types.js";
import { type Clock, systemClock } from "../../util/clock.js";
import { encodePublishBatch } from "../state/commands.js";
import {
  type PartitionSettingsView,
  PartitionStateMachine,
  type RetentionObserver,
} from "../state/partition-state-machine.js";
import { type GroupIo, GroupRunner, type RaftCore } from "./group-runner.js";
import { LogFeed } from "./log-feed.js";
import { ProposalTracker } from "./proposal-tracker.js";
import { type BatchedResult, PublishBatcher } from "./publish-batcher.js";

export interface PartitionGroupOptions {
  self: NodeId;
  groupId: GroupId;
  /** "topic/partition", for error messages. */
  name: string;
  /** The configuration a group seen here for the first time starts with (empty: wait to be added). */
  bootstrap: ConfState;
  logStore: LogStorePort;
  partitions: PartitionLogPort;
  createCore(o: { groupId: GroupId; storage: RaftStorage }): RaftCore;
  io: GroupIo;
  settings: PartitionSettingsView;
  observer?: RetentionObserver;
  proposalTimeoutMs: number;
  onLeaderChange(leader: NodeId | ""): void;
  onFatal(err: Error): void;
  clock?: Clock;
}

/**
 * One partition's Raft group on this node, assembled: its log storage, core, runner, state machine,
 * proposal tracker, publish batcher and log feed. The one place that wires them, used by the node
 * (cluster-node.ts) and by the full-stack simulation (sim/), so the simulation runs this code.
 */
export class PartitionGroup {
  readonly runner: GroupRunner;
  readonly feed: LogFeed;
  readonly batcher: PublishBatcher;
  readonly tracker: ProposalTracker<BatchedResult>;
  readonly storage: RaftStorage;
  /** True when the group's log holds only its bootstrap entries (a group created just now). */
  readonly fresh: boolean;

  constructor(o: PartitionGroupOptions) {
    const clock = o.clock ?? systemClock;
    this.storage = o.logStore.open(o.groupId, o.bootstrap);
    this.fresh = this.storage.lastIndex() <= o.bootstrap.voters.length + o.bootstrap.learners.length;
    this.tracker = new ProposalTracker<BatchedResult>(o.self, o.proposalTimeoutMs, clock);
    this.feed = new LogFeed(o.partitions.nextOffset(o.groupId));
    const sm = new PartitionStateMachine(
      o.groupId,
      o.self,
      o.partitions,
      this.tracker,
      this.feed,
      o.onLeaderChange,
      o.settings,
      o.observer,
    );
    const core = o.createCore({ groupId: o.groupId, storage: this.storage });
    const runner = new GroupRunner(o.groupId, core, o.io, sm, o.onFatal, clock);
    this.runner = runner;
    const storage = this.storage;
    o.logStore.setSnapshotBuilder(o.groupId, async () => {
      const index = o.partitions.appliedIndex(o.groupId);
      const data = await o.partitions.exportImage(o.groupId);
      return { metadata: { index, term: storage.term(index), confState: core.confState() }, data };
    });
    const tracker = this.tracker;
    this.batcher = new PublishBatcher(
      async (messages: PublishedMessage[]) => {
        const { sequence, result } = tracker.open();
        try {
          runner.propose(
            encodePublishBatch({
              proposer: tracker.proposer,
              sequence,
              timestampMicros: clock.nowMicros(),
              dedup: sm.proposedDedup,
              messages,
            }),
          );
        } catch (err) {
          tracker.reject(
            sequence,
            new ProposalNotAccepted(`partition ${o.name} cannot take writes here: ${(err as Error).message}`),
          );
        }
        return result;
      },
      undefined,
      clock.defer,
    );
  }
}

/** A publish the leader refused before appending it (so it is safe to send again). */
export class ProposalNotAccepted extends BrokerError {
  constructor(message: string) {
    super(message, Code.Unavailable, { retrySafe: true });
  }
}
