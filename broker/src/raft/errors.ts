/** A proposal the node cannot take now: not the leader, a leadership transfer, or too much uncommitted. */
export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}
