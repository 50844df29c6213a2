import type { PersistUpdate } from "../raft/ready-loop.js";
import type { ConfState, GroupId, Message, NodeId, RaftStorage, Snapshot } from "../raft/types.js";
import type { StoredMessage } from "./message.js";

// What the cluster layer needs from storage, named by the cluster's needs. storage/ implements
// them; tests can substitute in-memory versions.

/** A client message id first committed at an offset (a dedup row). */
export interface DedupRecord {
  messageId: string;
  offset: number;
  timestampMicros: number;
}

/** What one apply step changed in the window: rows to write, and offsets whose rows leave. */
export interface DedupChanges {
  put: DedupRecord[];
  drop: number[];
}

export interface PartitionLogPort {
  /**
   * Writes applied messages, the dedup window's changes and the applied Raft index in one batch (not
   * synced: the Raft log is the durable copy). `onVisible` runs as soon as every read of this store
   * answers with the new state (the counters moved; a read of rows waits for the write), before the
   * write completes: the apply acknowledges there (docs/decisions/0070).
   */
  appendApplied(
    groupId: GroupId,
    messages: StoredMessage[],
    appliedIndex: number,
    dedup?: DedupChanges,
    onVisible?: () => void,
  ): Promise<void>;
  read(groupId: GroupId, fromOffset: number, maxMessages: number, maxBytes: number): Promise<StoredMessage[]>;
  firstOffset(groupId: GroupId): number;
  nextOffset(groupId: GroupId): number;
  appliedIndex(groupId: GroupId): number;
  lastTimestamp(groupId: GroupId): number;
  /** A retained message's commit timestamp, from the index (the message itself is not read). */
  timestampOf(groupId: GroupId, offset: number): Promise<number | undefined>;
  /** First offset whose timestamp is >= ts (nextOffset when none). */
  offsetForTimestamp(groupId: GroupId, timestampMicros: number): Promise<number>;
  retainedBytes(groupId: GroupId): number;
  /** First offset from which the retained bodies add up to at most maxBytes (nextOffset when none fit). */
  offsetWithinBytes(groupId: GroupId, maxBytes: number): Promise<number>;
  /**
   * Applies a retention entry: the new first offset, the bytes left and the applied index in one
   * batch; the rows below are deleted afterwards (idempotent, finished at open after a crash).
   * Returns the body bytes freed.
   */
  retain(groupId: GroupId, first: number, appliedIndex: number): Promise<number>;
  /** The partition's dedup window as stored, oldest first. */
  dedupWindow(groupId: GroupId): Promise<DedupRecord[]>;
  /** The partition as one image, for a Raft snapshot: messages, dedup window, counters. */
  exportImage(groupId: GroupId): Promise<Uint8Array>;
  /**
   * Replaces the partition with a snapshot's image in one batch (a crash leaves the old partition or
   * the new one). The applied index becomes the image's own or the snapshot's, whichever is higher.
   */
  importImage(groupId: GroupId, image: Uint8Array, appliedIndex: number): Promise<void>;
}

export interface MetadataStorePort {
  /** The metadata state machine's image and applied index, or undefined on first start. */
  loadMetadata(): Promise<{ image: Uint8Array; appliedIndex: number } | undefined>;
  saveMetadata(image: Uint8Array, appliedIndex: number): Promise<void>;
}

export interface LogStorePort {
  /** The group's Raft storage; a group seen for the first time starts with `bootstrap` as its configuration. */
  open(groupId: GroupId, bootstrap: ConfState): RaftStorage;
  /**
   * Resolves once the update is fsynced; with `mustSync: false` (a commit-only hard state) at once,
   * the write queued in order behind every earlier one and made durable by the next synced write.
   */
  persist(groupId: GroupId, update: PersistUpdate): Promise<void>;
  /** How to build a snapshot of the group's state machine when a follower needs one. */
  setSnapshotBuilder(groupId: GroupId, builder: () => Promise<Snapshot>): void;
  /** Drops log entries up to and including index, recording the configuration there. */
  compact(groupId: GroupId, index: number, confState: ConfState): Promise<void>;
}

export interface PeerTransportPort {
  send(messages: Message[]): void;
  /** Where inbound messages go. */
  onMessages(handler: (messages: Message[]) => void): void;
  /** Where a peer is dialled (nodes join and leave while the cluster runs). */
  setPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  /** Internal node-to-node requests (see cluster/internal-requests.ts). */
  onControl(handler: (request: Uint8Array) => Promise<Uint8Array>): void;
  call(to: NodeId, body: Uint8Array, timeoutMs?: number): Promise<Uint8Array>;
  /** Peers with a live connection now. */
  connectedPeers(): NodeId[];
}

/**
 * A peer port that only sends Raft messages: no requests, no peers to dial. For nodes run in one
 * process that route requests between them some other way (the full-stack simulation, unit tests).
 */
export function sendOnlyPeerPort(send: (messages: Message[]) => void): PeerTransportPort {
  return {
    send,
    onMessages: () => undefined,
    setPeer: () => undefined,
    removePeer: () => undefined,
    onControl: () => undefined,
    call: () => Promise.reject(new Error("this peer port only sends Raft messages")),
    connectedPeers: () => [],
  };
}
