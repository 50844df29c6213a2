import type { GeoBrokerCluster } from "../api/types.js";
import type { KubeObject } from "./kube-object.js";
import { names, selectorLabels } from "./names.js";
import { meta } from "./object-meta.js";

/** Voluntary disruptions (drains, upgrades of nodes) take at most one broker at a time, none below 3. */
export function podDisruptionBudget(cluster: GeoBrokerCluster, totalNodes: number): KubeObject {
  const c = cluster.metadata.name;
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(cluster, names.pdb(c)),
    spec: { maxUnavailable: maxUnavailable(totalNodes), selector: { matchLabels: selectorLabels(c) } },
  };
}

/** Losing one voter keeps a majority only from 3 voters up. */
export function maxUnavailable(totalNodes: number): number {
  return Math.min(1, Math.floor((totalNodes - 1) / 2));
}
