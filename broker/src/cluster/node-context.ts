import type { NodeConfig } from "../config/config.js";
import type { EngineObserver } from "../engine/engine.js";
import type { PartitionLogPort } from "../engine/ports.js";
import type { Logger } from "../observability/logger.js";
import type { NodeId } from "../raft/types.js";
import type { Clock } from "../util/clock.js";
import type { Forwarder } from "./forwarding/forwarder.js";
import type { GroupRegistry } from "./groups/group-registry.js";
import type { ChangeSignal } from "./groups/waiters.js";
import type { MetadataState } from "./state/metadata-state.js";

// What the parts of a node (publish, read, topics, peer requests, leadership) share: who this node
// is, its groups, the metadata it applied, and the signal that wakes waiters when any of it changes.

export interface NodeContext {
  readonly self: NodeId;
  readonly region: string;
  readonly config: NodeConfig;
  readonly logger: Logger;
  readonly changes: ChangeSignal;
  /** Every time and timer the node's parts use (a virtual one in simulations and in-process tests). */
  readonly clock: Clock;
  readonly forwarder: Forwarder;
  readonly groups: GroupRegistry;
  /** This node's partition replicas' storage. */
  readonly store: PartitionLogPort;
  readonly observer?: EngineObserver;
  /** The metadata as this node last applied it. */
  metadata(): MetadataState;
}

/** How long a proposal may wait to commit and apply before the caller is told to retry. */
export const proposalTimeoutMs = 10_000;
/** How long a call waits for a group to have a leader (or for another after a failed forward). */
export const leaderWaitMs = 5_000;
/** Client -> any node -> a replica -> the leader, plus one more for a leadership that moved meanwhile. */
export const maxForwardHops = 3;
