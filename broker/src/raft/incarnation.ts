import type { ConfChange, NodeId } from "./types.js";

// Which incarnation of a node a group's configuration admitted. A node that lost its data directory
// comes back with a new incarnation (cluster/node-identity.ts) but the same id, and its old groups
// still list that id as a voter. Were it to vote, it could elect a leader that lacks entries it had
// acknowledged before it forgot them (or vote twice in one term, having forgotten its vote). So a
// node votes and campaigns only under a configuration that admitted this very incarnation: one whose
// membership change named it, or, for the original incarnation (the one that wrote the bootstrap
// entries, or any node of a cluster created before incarnations existed), one that names none.

/** What a node knows about itself: its incarnation, and whether it may act on changes that name none. */
export interface SelfIncarnation {
  incarnation: string | undefined;
  original: boolean;
}

/** Whether the configuration's record for `self` (its `incarnations[self]`) admits this incarnation. */
export function admitted(recorded: string | undefined, self: SelfIncarnation): boolean {
  return recorded === undefined ? self.original : recorded === self.incarnation;
}

/** The incarnations a configuration records after `cc` (a copy; the input is not changed). */
export function incarnationsAfter(
  incarnations: Readonly<Record<NodeId, string>>,
  cc: ConfChange,
  added: boolean,
): Record<NodeId, string> {
  const next = { ...incarnations };
  if (cc.type === "remove") delete next[cc.nodeId];
  else if (added && cc.incarnation !== undefined) next[cc.nodeId] = cc.incarnation;
  return next;
}
