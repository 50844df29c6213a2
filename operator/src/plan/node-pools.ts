import type { GeoBrokerCluster, GeoBrokerClusterStatus, GeoBrokerNodePool } from "../api/types.js";
import { labelKeys, selectorLabels } from "../model/names.js";

// GeoBrokerNodePools: a region's node count held in a resource of its own, so the scale
// subresource (kubectl scale, an HPA, a KEDA scaler) can change it. Pure: pools in, the spec the
// planner plans with and each pool's status out.

/** The cluster's spec with every pool's replicas over its region's; pools for unknown regions are ignored. */
export function withNodePools(cluster: GeoBrokerCluster, pools: GeoBrokerNodePool[]): GeoBrokerCluster {
  const mine = pools.filter(
    (p) => p.spec.clusterRef.name === cluster.metadata.name && !p.metadata.deletionTimestamp,
  );
  if (mine.length === 0) return cluster;
  const byRegion = new Map(mine.map((p) => [p.spec.region, p]));
  return {
    ...cluster,
    spec: {
      ...cluster.spec,
      regions: cluster.spec.regions.map((r) => {
        const p = byRegion.get(r.name);
        return p ? { ...r, replicas: p.spec.replicas } : r;
      }),
    },
  };
}

/** A pool's status from the cluster's: the current and ready counts, and the pods' selector for an HPA. */
export function nodePoolStatus(
  cluster: GeoBrokerCluster,
  pool: GeoBrokerNodePool,
  status: GeoBrokerClusterStatus,
): NonNullable<GeoBrokerNodePool["status"]> {
  const region = status.regions?.find((r) => r.name === pool.spec.region);
  const known = cluster.spec.regions.some((r) => r.name === pool.spec.region);
  const selector = Object.entries(selectorLabels(cluster.metadata.name, pool.spec.region))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const converged =
    region !== undefined &&
    region.replicas === pool.spec.replicas &&
    region.readyReplicas === pool.spec.replicas;
  return {
    ...(pool.metadata.generation !== undefined ? { observedGeneration: pool.metadata.generation } : {}),
    replicas: region?.replicas ?? 0,
    readyReplicas: region?.readyReplicas ?? 0,
    selector,
    conditions: [
      known
        ? {
            type: "Ready",
            status: converged ? "True" : "False",
            reason: converged ? "Ready" : "Scaling",
            message: `${region?.readyReplicas ?? 0}/${pool.spec.replicas} nodes of ${labelKeys.region}=${pool.spec.region} ready`,
          }
        : {
            type: "Ready",
            status: "False",
            reason: "UnknownRegion",
            message: `cluster ${cluster.metadata.name} has no region ${pool.spec.region} in spec.regions; add it there first`,
          },
    ],
  };
}
