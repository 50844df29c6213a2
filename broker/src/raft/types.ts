// The data the pure Raft core exchanges with its I/O loop. Mirrors proto/geobroker/raft/v1/raft.proto
// (the transport converts), but stays plain TypeScript so the core has no dependencies.

export type NodeId = string;
/** A Raft group: the metadata group is 0, each topic partition has its own data group. */
export type GroupId = number;

export enum MessageType {
  Append = 1,
  AppendResponse = 2,
  Vote = 3,
  VoteResponse = 4,
  PreVote = 5,
  PreVoteResponse = 6,
  Heartbeat = 7,
  HeartbeatResponse = 8,
  Snapshot = 9,
  TimeoutNow = 10,
  ReadIndex = 11,
  ReadIndexResponse = 12,
  SnapshotStatus = 13,
}

export enum EntryType {
  Normal = 1,
  ConfChange = 2,
  /** Appended by a new leader so that entries of earlier terms commit. */
  Empty = 3,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  /** The candidate voted for in `term`, or "" for none. */
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  /** Voters of the outgoing configuration during a joint change; empty otherwise. */
  votersOutgoing: NodeId[];
  /**
   * The incarnation each member was admitted under (raft/incarnation.ts), for members whose change
   * named one; absent when none did (bootstrap entries, clusters created before incarnations).
   */
  incarnations?: Record<NodeId, string>;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The state machine's image at metadata.index; opaque to Raft. */
  data: Uint8Array;
}

export interface Message {
  groupId: GroupId;
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  snapshot?: Snapshot;
  /** Opaque to Raft: read-index request ids. */
  context?: Uint8Array;
}

/** "addVoter" appears only in a group's bootstrap entries; live changes add a learner, then promote it. */
export type ConfChangeType = "addVoter" | "addLearner" | "promote" | "remove";

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** addLearner/addVoter: the incarnation of the node being admitted (only that one may vote). */
  incarnation?: string;
}

/**
 * The read side of stable storage as the core sees it (as in etcd's raft `Storage`). Synchronous:
 * the storage layer keeps the log after the last compaction in memory and writes through to disk.
 */
export interface RaftStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most maxBytes of data (but always at least one when lo < hi). */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** Term of the entry at index; throws CompactedError below firstIndex()-1, UnavailableError past lastIndex(). */
  term(index: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export class CompactedError extends Error {
  constructor(index: number) {
    super(`log entry ${index} is compacted`);
    this.name = "CompactedError";
  }
}

export class UnavailableError extends Error {
  constructor(index: number) {
    super(`log entry ${index} is not available yet`);
    this.name = "UnavailableError";
  }
}
