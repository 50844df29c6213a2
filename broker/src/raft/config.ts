import type { GroupId, NodeId } from "./types.js";

export interface RaftConfig {
  id: NodeId;
  groupId: GroupId;
  /** Ticks without a leader before a follower stands for election (randomized up to twice this). */
  electionTicks?: number;
  heartbeatTicks?: number;
  /** A source of numbers in [0, 1): the only randomness the core uses. */
  random: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Entry bytes per Append message. */
  maxSizePerMsg?: number;
  /** Appends in flight per follower in replicate state. */
  maxInflightMsgs?: number;
  /** Proposals are dropped while more than this many bytes are uncommitted. */
  maxUncommittedBytes?: number;
  /**
   * Entries up to this index are not handed out again at start. Leave it unset (the snapshot index)
   * unless storage's configuration already reflects every configuration entry up to it: replayed
   * configuration entries are how a restarted node rebuilds its membership.
   */
  applied?: number;
  logger?: (line: string) => void;
  /** This node's incarnation (raft/incarnation.ts): it votes only where a configuration admitted it. */
  incarnation?: string;
  /** Whether this incarnation may vote where no incarnation is recorded for it (default true). */
  original?: boolean;
}

/** A RaftConfig with every default filled in and checked, as the core's parts read it. */
export interface RaftSettings {
  readonly id: NodeId;
  readonly groupId: GroupId;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsg: number;
  readonly maxInflight: number;
  readonly maxUncommittedBytes: number;
  readonly random: () => number;
  readonly logger: ((line: string) => void) | undefined;
  readonly applied: number | undefined;
  readonly incarnation: string | undefined;
  readonly original: boolean;
}

export function resolveConfig(config: RaftConfig): RaftSettings {
  const settings: RaftSettings = {
    id: config.id,
    groupId: config.groupId,
    electionTimeout: config.electionTicks ?? 10,
    heartbeatTimeout: config.heartbeatTicks ?? 1,
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
    maxSizePerMsg: config.maxSizePerMsg ?? 1024 * 1024,
    maxInflight: config.maxInflightMsgs ?? 256,
    maxUncommittedBytes: config.maxUncommittedBytes ?? 64 * 1024 * 1024,
    random: config.random,
    logger: config.logger,
    applied: config.applied,
    incarnation: config.incarnation,
    original: config.original ?? true,
  };
  if (settings.heartbeatTimeout >= settings.electionTimeout)
    throw new Error("heartbeatTicks must be below electionTicks");
  return settings;
}
