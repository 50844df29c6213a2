import { encodeConfChange } from "./confchange.js";
import type { ConfState, Entry, HardState, NodeId } from "./types.js";
import { EntryType } from "./types.js";

/**
 * The first entries of a new group's log, identical on every initial member: one configuration
 * change per member, committed at term 1. Keeping the initial membership in the log (not only in
 * local metadata) means a node that joins later and replays the log from index 1 rebuilds exactly
 * the configuration everyone else has. (Found by the simulation: with the membership only in local
 * metadata, a joining node saw itself as the sole voter after its promotion and elected itself.)
 */
export function bootstrapEntries(conf: ConfState): { entries: Entry[]; hardState: HardState } {
  const named = (nodeId: NodeId) => {
    const incarnation = conf.incarnations?.[nodeId];
    return incarnation === undefined ? { nodeId } : { nodeId, incarnation };
  };
  const changes = [
    ...[...conf.voters].sort().map((nodeId) => ({ type: "addVoter" as const, ...named(nodeId) })),
    ...[...conf.learners].sort().map((nodeId) => ({ type: "addLearner" as const, ...named(nodeId) })),
  ];
  const entries = changes.map((cc, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange(cc),
  }));
  return { entries, hardState: { term: 1, vote: "", commit: entries.length } };
}
