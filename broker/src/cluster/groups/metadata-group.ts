import { unavailable } from "../../engine/errors.js";
import type { LogStorePort, MetadataStorePort } from "../../engine/ports.js";
import type { ConfState, GroupId, NodeId, RaftStorage } from "../../raft/types.js";
import { type Clock, systemClock } from "../../util/clock.js";
import type { MetadataEnvelope } from "../state/commands.js";
import { encodeMetadataCommand } from "../state/commands.js";
import {
  type MetadataCommand,
  type MetadataResult,
  type MetadataState,
  metadataGroupId,
  type NodeAddress,
} from "../state/metadata-state.js";
import { MetadataStateMachine } from "../state/metadata-state-machine.js";
import { type GroupIo, GroupRunner, type RaftCore } from "./group-runner.js";
import { ProposalTracker } from "./proposal-tracker.js";

export interface MetadataGroupOptions {
  self: NodeId;
  initialNodes: NodeAddress[];
  /** The configuration the group starts with when it is new here (empty: wait to be added). */
  bootstrap: ConfState;
  logStore: LogStorePort;
  metadataStore: MetadataStorePort;
  createCore(o: { groupId: GroupId; storage: RaftStorage }): RaftCore;
  io: GroupIo;
  proposalTimeoutMs: number;
  onChange(state: MetadataState): void;
  onLeaderChange(leader: NodeId | ""): void;
  onFatal(err: Error): void;
  clock?: Clock;
}

/**
 * The metadata group on this node, assembled: state machine, log storage, core, runner, tracker.
 * The one place that wires them, used by the node (cluster-node.ts) and the full-stack simulation.
 */
export class MetadataGroup {
  private constructor(
    readonly sm: MetadataStateMachine,
    readonly runner: GroupRunner,
    readonly tracker: ProposalTracker<MetadataResult>,
  ) {}

  static async open(o: MetadataGroupOptions): Promise<MetadataGroup> {
    const clock = o.clock ?? systemClock;
    const tracker = new ProposalTracker<MetadataResult>(o.self, o.proposalTimeoutMs, clock);
    const sm = await MetadataStateMachine.open({
      selfId: o.self,
      store: o.metadataStore,
      tracker,
      initialNodes: o.initialNodes,
      onChange: o.onChange,
      onLeaderChange: o.onLeaderChange,
    });
    const storage = o.logStore.open(metadataGroupId, o.bootstrap);
    const core = o.createCore({ groupId: metadataGroupId, storage });
    const runner = new GroupRunner(metadataGroupId, core, o.io, sm, o.onFatal, clock);
    o.logStore.setSnapshotBuilder(metadataGroupId, async () => {
      const index = sm.appliedIndex;
      return {
        metadata: { index, term: storage.term(index), confState: core.confState() },
        data: sm.image(),
      };
    });
    return new MetadataGroup(sm, runner, tracker);
  }

  get state(): MetadataState {
    return this.sm.state;
  }

  /** Proposes a command here (this node must lead the group); resolves with its result once applied. */
  propose(command: MetadataCommand): Promise<MetadataResult> {
    const { sequence, result } = this.tracker.open();
    const envelope: MetadataEnvelope = { proposer: this.tracker.proposer, sequence, command };
    try {
      this.runner.propose(encodeMetadataCommand(envelope));
    } catch (err) {
      this.tracker.reject(
        sequence,
        unavailable(`metadata leader cannot take writes: ${(err as Error).message}`),
      );
    }
    return result;
  }
}
