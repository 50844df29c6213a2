import type { MetadataState, NodeInfo, PartitionPlacement } from "../state/metadata-state.js";

// Where replicas should move, decided by the metadata leader from the replicated metadata alone
// (pure, so it is tested without a cluster). A move changes one replica of one group; the group's
// leader then carries it out in Raft (learner, catch up, promote, remove) and reports it settled.
// Moves are bounded: at most `maxInFlight` groups move at once, so a joining or draining node never
// makes every group copy its log at the same time.

export interface ReplicaMove {
  groupId: number;
  from: string;
  to: string;
  reason: "drain" | "balance";
}

interface Candidate {
  placement: PartitionPlacement;
  homeRegion: string;
}

function candidates(state: MetadataState): Candidate[] {
  const out: Candidate[] = [];
  for (const t of Object.values(state.topics))
    for (const p of t.partitions) out.push({ placement: p, homeRegion: t.spec.homeRegion });
  return out.sort((a, b) => a.placement.groupId - b.placement.groupId);
}

function loads(state: MetadataState, eligible: NodeInfo[]): Map<string, number> {
  const load = new Map(eligible.map((n) => [n.id, 0]));
  for (const { placement } of candidates(state))
    for (const r of placement.replicas) if (load.has(r)) load.set(r, load.get(r)! + 1);
  return load;
}

const regionsOf = (replicas: string[], state: MetadataState) =>
  new Set(replicas.map((r) => state.nodes[r]?.region ?? `?${r}`));

/** Region and zone of a node, the key replicas are spread over within a region. */
const zoneOf = (id: string, state: MetadataState) => {
  const n = state.nodes[id];
  return n ? `${n.region}/${n.zone}` : `?${id}`;
};
const zonesOf = (replicas: string[], state: MetadataState) => new Set(replicas.map((r) => zoneOf(r, state)));

/** A balance move leaves the group over as many zones as before (a drain may have to narrow it). */
function keepsZones(c: Candidate, from: string, to: string, state: MetadataState): boolean {
  const after = c.placement.replicas.map((r) => (r === from ? to : r));
  return zonesOf(after, state).size >= zonesOf(c.placement.replicas, state).size;
}

/** A move keeps the group as spread over regions as before, and keeps a replica in its home region. */
function keepsSpread(c: Candidate, from: string, to: string, state: MetadataState): boolean {
  const before = c.placement.replicas;
  const after = before.map((r) => (r === from ? to : r));
  if (regionsOf(after, state).size < regionsOf(before, state).size) return false;
  if (
    c.homeRegion &&
    regionsOf(before, state).has(c.homeRegion) &&
    !regionsOf(after, state).has(c.homeRegion)
  )
    return false;
  return true;
}

export function planMoves(state: MetadataState, maxInFlight: number): ReplicaMove[] {
  const all = candidates(state);
  let budget = maxInFlight - all.filter((c) => c.placement.moving).length;
  if (budget <= 0) return [];
  const eligible = Object.values(state.nodes)
    .filter((n) => n.state === "voter")
    .sort((a, b) => a.id.localeCompare(b.id));
  const load = loads(state, eligible);
  const moves: ReplicaMove[] = [];
  const busy = new Set(all.filter((c) => c.placement.moving).map((c) => c.placement.groupId));
  const apply = (c: Candidate, from: string, to: string, reason: ReplicaMove["reason"]) => {
    moves.push({ groupId: c.placement.groupId, from, to, reason });
    busy.add(c.placement.groupId);
    load.set(to, (load.get(to) ?? 0) + 1);
    if (load.has(from)) load.set(from, load.get(from)! - 1);
    budget--;
  };

  // 1. Replicas on nodes that should not hold any (draining, drained, learner, or gone).
  for (const c of all) {
    if (budget <= 0) break;
    if (busy.has(c.placement.groupId)) continue;
    const from = c.placement.replicas.find((r) => state.nodes[r]?.state !== "voter");
    if (!from) continue;
    const sourceRegion = state.nodes[from]?.region;
    // Zones the group's other replicas are in: a target in a new one keeps it spread within the region.
    const taken = zonesOf(
      c.placement.replicas.filter((r) => r !== from),
      state,
    );
    const newZone = (id: string) => Number(!taken.has(zoneOf(id, state)));
    const targets = eligible
      .filter((n) => !c.placement.replicas.includes(n.id) && keepsSpread(c, from, n.id, state))
      .sort(
        (a, b) =>
          Number(b.region === sourceRegion) - Number(a.region === sourceRegion) ||
          newZone(b.id) - newZone(a.id) ||
          load.get(a.id)! - load.get(b.id)! ||
          a.id.localeCompare(b.id),
      );
    const to = targets[0];
    if (to) apply(c, from, to.id, "drain");
  }

  // 2. Balance: from the most to the least loaded node while they differ by more than one.
  while (budget > 0) {
    const byLoad = [...load.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
    let moved = false;
    for (const [heavy, heavyLoad] of [...byLoad].reverse()) {
      for (const [light, lightLoad] of byLoad) {
        if (heavyLoad - lightLoad <= 1) break;
        const c = all.find(
          (x) =>
            !busy.has(x.placement.groupId) &&
            x.placement.replicas.includes(heavy) &&
            !x.placement.replicas.includes(light) &&
            keepsSpread(x, heavy, light, state) &&
            keepsZones(x, heavy, light, state),
        );
        if (c) {
          apply(c, heavy, light, "balance");
          moved = true;
          break;
        }
      }
      if (moved) break;
    }
    if (!moved) break;
  }
  return moves;
}

/** Groups that cannot leave a node (no eligible target keeps them spread): shown to whoever drains it. */
export function stuckOn(state: MetadataState, nodeId: string): number[] {
  const eligible = Object.values(state.nodes).filter((n) => n.state === "voter");
  return candidates(state)
    .filter(
      (c) =>
        c.placement.replicas.includes(nodeId) &&
        !eligible.some((n) => !c.placement.replicas.includes(n.id) && keepsSpread(c, nodeId, n.id, state)),
    )
    .map((c) => c.placement.groupId);
}

export interface PreferredLeaderChange {
  groupId: number;
  nodeId: string;
}

/**
 * Which replica of each group should lead (it goes first in the placement; the group's leader hands
 * over to it): one in the topic's home region when there is one, and otherwise spread so every
 * node leads about as many groups as the others. Greedy over the groups in order, keeping the current
 * choice on ties, so the answer is stable once applied: no leadership ping-pong.
 */
export function planPreferredLeaders(state: MetadataState, max: number): PreferredLeaderChange[] {
  const counts = new Map<string, number>();
  const changes: PreferredLeaderChange[] = [];
  for (const c of candidates(state)) {
    const p = c.placement;
    const voters = p.replicas.filter((r) => state.nodes[r]?.state === "voter");
    const home = c.homeRegion ? voters.filter((r) => state.nodes[r]?.region === c.homeRegion) : [];
    const pool = home.length > 0 ? home : voters;
    if (pool.length === 0) continue;
    const current = p.replicas[0]!;
    const count = (id: string) => counts.get(id) ?? 0;
    const best = [...pool].sort(
      (a, b) => count(a) - count(b) || Number(b === current) - Number(a === current) || a.localeCompare(b),
    )[0]!;
    counts.set(best, count(best) + 1);
    if (best !== current && !p.moving && changes.length < max)
      changes.push({ groupId: p.groupId, nodeId: best });
  }
  return changes;
}
