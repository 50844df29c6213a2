// Where the replicas of a new group go. Pure: the metadata state machine calls it while applying a
// command, so every replica computes the same answer.

export interface PlacementNode {
  id: string;
  region: string;
  zone: string;
}

/**
 * Picks `count` nodes spread over regions first (so losing a region loses at most ceil(count/regions)
 * replicas), then zones, then the least loaded nodes. When `preferRegion` is given and has a node,
 * the first replica returned is in it (the group's preferred leader).
 */
export function placeReplicas(
  nodes: PlacementNode[],
  count: number,
  load: ReadonlyMap<string, number>,
  preferRegion = "",
): string[] {
  if (count > nodes.length) {
    throw new RangeError(`replication factor ${count} needs ${count} nodes; the cluster has ${nodes.length}`);
  }
  const byRegion = new Map<string, PlacementNode[]>();
  for (const n of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    const list = byRegion.get(n.region) ?? [];
    list.push(n);
    byRegion.set(n.region, list);
  }
  const loadOf = (id: string) => load.get(id) ?? 0;
  // Regions ordered: the preferred one first, then the least loaded, then by name.
  const regionLoad = (r: string) =>
    byRegion.get(r)!.reduce((sum, n) => sum + loadOf(n.id), 0) / byRegion.get(r)!.length;
  const regions = [...byRegion.keys()].sort((a, b) => {
    if (a === preferRegion) return -1;
    if (b === preferRegion) return 1;
    return regionLoad(a) - regionLoad(b) || a.localeCompare(b);
  });
  const chosen: PlacementNode[] = [];
  const usedZones = new Set<string>();
  while (chosen.length < count) {
    for (const region of regions) {
      if (chosen.length === count) break;
      const candidates = byRegion.get(region)!.filter((n) => !chosen.includes(n));
      if (candidates.length === 0) continue;
      candidates.sort(
        (a, b) =>
          Number(usedZones.has(`${a.region}/${a.zone}`)) - Number(usedZones.has(`${b.region}/${b.zone}`)) ||
          loadOf(a.id) - loadOf(b.id) ||
          a.id.localeCompare(b.id),
      );
      const pick = candidates[0]!;
      chosen.push(pick);
      usedZones.add(`${pick.region}/${pick.zone}`);
    }
  }
  return chosen.map((n) => n.id);
}
