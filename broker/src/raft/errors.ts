/** A proposal the node cannot take now: not the leader, a leadership transfer, or too much uncommitted. */
export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}

/**
 * Storage cannot produce a snapshot right now (it is being built asynchronously); the leader skips
 * the follower this time and tries again later, as etcd's ErrSnapshotTemporarilyUnavailable.
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  constructor() {
    super("snapshot temporarily unavailable");
    this.name = "SnapshotTemporarilyUnavailableError";
  }
}
