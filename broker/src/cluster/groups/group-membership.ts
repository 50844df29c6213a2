import type { ConfState, NodeId } from "../../raft/types.js";
import { caughtUp, isStale, staleToRemove } from "../membership/readmission.js";
import type { Registration } from "../state/incarnations.js";

// What a data group's leader does next to make its Raft configuration match the placement the
// metadata group decided. Pure: one step per call, in the only safe order (add as learner, promote
// once caught up, move leadership off a leaving leader, then remove), one change in flight at a time
// (the Raft core refuses a second one until the first applies).

export type MembershipStep =
  | { kind: "addLearner"; node: NodeId; incarnation?: string }
  | { kind: "promote"; node: NodeId }
  | { kind: "transferLeadership"; to: NodeId }
  | { kind: "remove"; node: NodeId }
  | { kind: "settle" }
  | { kind: "none" };

export interface MembershipView {
  self: NodeId;
  conf: ConfState;
  desired: readonly NodeId[];
  /** The leader's view of each member's log. */
  match: ReadonlyMap<NodeId, number>;
  lastIndex: number;
  /**
   * The index a learner must hold before it is promoted (the leader's latest configuration change,
   * RaftStatus.confIndex): a voter that does not hold the entry that admitted it grants no vote.
   */
  confIndex: number;
  /** A move recorded in the metadata and not yet settled. */
  moving: boolean;
  /** A learner this many entries behind or closer counts as caught up. */
  maxLagToPromote: number;
  /** Members heard from within the last election timeout (only those may take leadership or be promoted). */
  active: ReadonlySet<NodeId>;
  /**
   * Each node's registered incarnation (readmission.ts). When given, a stale member is removed
   * first and a learner is added only once registered, under its incarnation; absent, incarnations
   * play no part (as before they existed).
   */
  registrations?: ReadonlyMap<NodeId, Registration>;
}

export function lagOf(view: Pick<MembershipView, "match" | "lastIndex">, node: NodeId): number {
  return Math.max(0, view.lastIndex - (view.match.get(node) ?? 0));
}

export function nextMembershipStep(v: MembershipView): MembershipStep {
  const { voters, learners } = v.conf;
  const wanted = new Set(v.desired);
  const regs = v.registrations;
  if (regs) {
    const stale = staleToRemove({ self: v.self, conf: v.conf, registrations: regs, active: v.active });
    if (stale) return { kind: "remove", node: stale };
  }
  let unregistered = false;
  for (const d of v.desired) {
    if (voters.includes(d) || learners.includes(d)) continue;
    if (!regs) return { kind: "addLearner", node: d };
    // Added without its incarnation it could never vote once promoted: wait until it registers
    // (and change nothing else meanwhile: a move must not shrink the group before its target joins).
    const reg = regs.get(d);
    if (reg) return { kind: "addLearner", node: d, incarnation: reg.incarnation };
    unregistered = true;
  }
  if (unregistered) return { kind: "none" };
  for (const l of learners) if (!wanted.has(l)) return { kind: "remove", node: l };
  // Caught up and alive: a learner that went silent would only shrink the quorum's margin.
  for (const d of v.desired)
    if (learners.includes(d) && caughtUp(v, d) && v.active.has(d)) return { kind: "promote", node: d };
  if (v.desired.some((d) => learners.includes(d))) return { kind: "none" };
  const leaving = voters.filter((x) => !wanted.has(x));
  for (const x of leaving) {
    if (x !== v.self) return { kind: "remove", node: x };
  }
  if (leaving.includes(v.self)) {
    // Not to a voter that may not campaign (its transfer would only time out).
    const to = v.desired
      .filter((d) => d !== v.self && v.active.has(d) && !(regs && isStale(v.conf, d, regs.get(d))))
      .sort((a, b) => lagOf(v, a) - lagOf(v, b) || a.localeCompare(b))[0];
    return to ? { kind: "transferLeadership", to } : { kind: "none" };
  }
  return v.moving ? { kind: "settle" } : { kind: "none" };
}

export interface LeaderView {
  self: NodeId;
  /** The placement's replicas; the first is the preferred leader (see rebalance.planPreferredLeaders). */
  replicas: readonly NodeId[];
  voters: readonly NodeId[];
  match: ReadonlyMap<NodeId, number>;
  lastIndex: number;
  /** Only hand leadership to a voter this close to the leader's log (so the move is quick). */
  maxLag: number;
  /** Voters heard from within the last election timeout: never hand leadership to a dead node. */
  active: ReadonlySet<NodeId>;
}

/**
 * Whether this leader should hand the group to its preferred leader (the placement's first replica:
 * in the topic's home region, or spread to balance leaderships across nodes), once that replica is
 * a live, caught-up voter. Undefined: stay.
 */
export function preferredLeader(v: LeaderView): NodeId | undefined {
  const preferred = v.replicas[0];
  if (preferred === undefined || preferred === v.self) return undefined;
  if (!v.voters.includes(preferred) || !v.active.has(preferred) || lagOf(v, preferred) > v.maxLag)
    return undefined;
  return preferred;
}
