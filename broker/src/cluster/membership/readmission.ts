import { admitted } from "../../raft/incarnation.js";
import type { ConfState, NodeId } from "../../raft/types.js";
import type { Registration } from "../state/incarnations.js";
import type { NodeInfo } from "../state/metadata-state.js";

// Re-admission of a node that lost its state (docs/raft.md, "A node that lost its disk"). Each node
// registers its current incarnation in the metadata state; a group leader that finds a member whose
// configuration entry is not that incarnation removes it and adds it back as a learner under it,
// then promotes it once caught up. Pure: the steps are decided here, carried out by maintenance.ts.

export function registrationOf(node: NodeInfo | undefined): Registration | undefined {
  return node?.incarnation === undefined
    ? undefined
    : { incarnation: node.incarnation, original: node.original ?? false };
}

/** The registrations of every node that has one. */
export function registrations(nodes: Record<string, NodeInfo>): Map<NodeId, Registration> {
  const out = new Map<NodeId, Registration>();
  for (const n of Object.values(nodes)) {
    const r = registrationOf(n);
    if (r) out.set(n.id, r);
  }
  return out;
}

/**
 * A member whose configuration does not admit the incarnation it registered: it lost its state
 * since it was added (or was added without naming one). It cannot vote until re-added.
 */
export function isStale(conf: ConfState, id: NodeId, reg: Registration | undefined): boolean {
  return reg !== undefined && !admitted(conf.incarnations?.[id], reg);
}

/**
 * The stale member to remove first, if any. A learner always; a voter only while the voters left
 * keep a quorum of live members (the stale voter's acknowledgements are honest and may be what
 * keeps the group available: better a voter that cannot vote than no quorum).
 */
export function staleToRemove(v: {
  self: NodeId;
  conf: ConfState;
  registrations: ReadonlyMap<NodeId, Registration>;
  active: ReadonlySet<NodeId>;
}): NodeId | undefined {
  const stale = (id: NodeId) => id !== v.self && isStale(v.conf, id, v.registrations.get(id));
  const learner = v.conf.learners.find(stale);
  if (learner) return learner;
  for (const id of v.conf.voters.filter(stale)) {
    const rest = v.conf.voters.filter((x) => x !== id);
    const live = rest.filter((x) => x === v.self || v.active.has(x)).length;
    if (live >= Math.floor(rest.length / 2) + 1) return id;
  }
  return undefined;
}

/**
 * Whether a learner may be promoted: within `maxLagToPromote` of the leader's log, and holding the
 * leader's latest configuration change, `confIndex` (on a short log the lag bound alone passes a
 * learner that holds nothing, and a voter that does not hold the entry that admitted it grants no
 * vote: promoted, it only shrinks the group's margin until it catches up).
 */
export function caughtUp(
  v: { match: ReadonlyMap<NodeId, number>; lastIndex: number; confIndex: number; maxLagToPromote: number },
  node: NodeId,
): boolean {
  const match = v.match.get(node) ?? 0;
  return v.lastIndex - match <= v.maxLagToPromote && match >= v.confIndex;
}

export type MetadataReadmissionStep =
  | { kind: "remove"; node: NodeId }
  | { kind: "addLearner"; node: NodeId; incarnation: string }
  | { kind: "promote"; node: NodeId }
  | { kind: "none" };

/**
 * The metadata group's next re-admission step. Learners the operator added stay its business
 * (AddNode, PromoteNode); what maintenance does is bring back a full member (`voter` or `draining`
 * in the metadata state) that a stale removal took out, and promote it again once caught up.
 */
export function nextMetadataReadmission(v: {
  self: NodeId;
  conf: ConfState;
  nodes: Record<string, NodeInfo>;
  match: ReadonlyMap<NodeId, number>;
  lastIndex: number;
  /** See MembershipView.confIndex. */
  confIndex: number;
  active: ReadonlySet<NodeId>;
  maxLagToPromote: number;
}): MetadataReadmissionStep {
  const regs = registrations(v.nodes);
  const remove = staleToRemove({ self: v.self, conf: v.conf, registrations: regs, active: v.active });
  if (remove) return { kind: "remove", node: remove };
  const member = (id: NodeId) => v.conf.voters.includes(id) || v.conf.learners.includes(id);
  for (const n of Object.values(v.nodes).sort((a, b) => a.id.localeCompare(b.id))) {
    const reg = regs.get(n.id);
    if (!reg || n.state === "drained" || member(n.id)) continue;
    return { kind: "addLearner", node: n.id, incarnation: reg.incarnation };
  }
  for (const id of v.conf.learners) {
    const state = v.nodes[id]?.state;
    if (
      (state === "voter" || state === "draining") &&
      caughtUp(v, id) &&
      v.active.has(id) &&
      !isStale(v.conf, id, regs.get(id))
    )
      return { kind: "promote", node: id };
  }
  return { kind: "none" };
}
