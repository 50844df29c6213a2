import type { NodeView } from "../peers/internal-requests.js";
import { metadataGroupId } from "../state/metadata-state.js";

/**
 * A node removed while it could not hear the removal keeps its own metadata state listing it for
 * good: the leader stops replicating to a node once its removal applies. The authority on
 * membership is the metadata leader's configuration; its view (the one with members) at a term no
 * older than ours, without us in it, says this node was removed. Pure: `views` are what the peers
 * answered, `self` this node's own view.
 */
export function removedSelf(self: NodeView, views: readonly (NodeView | undefined)[]): boolean {
  const ownTerm = self.groups.find((g) => g.groupId === metadataGroupId)?.term ?? 0;
  for (const v of views) {
    if (!v || v.nodeId === self.nodeId) continue;
    const g = v.groups.find((x) => x.groupId === metadataGroupId);
    if (!g || g.members.length === 0 || g.leader !== v.nodeId || g.term < ownTerm) continue;
    return ![...g.conf.voters, ...g.conf.learners, ...(g.conf.votersOutgoing ?? [])].includes(self.nodeId);
  }
  return false;
}
