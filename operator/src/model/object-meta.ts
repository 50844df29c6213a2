import { apiVersion as crApiVersion, type GeoBrokerCluster } from "../api/types.js";
import type { OwnerReference } from "./kube-object.js";
import { clusterLabels, labelKeys } from "./names.js";

// What every object the operator builds carries: the cluster's labels and an owner reference to
// the GeoBrokerCluster (garbage collection deletes them with it). The one place for both.

export function ownerReference(cluster: GeoBrokerCluster): OwnerReference {
  return {
    apiVersion: crApiVersion,
    kind: "GeoBrokerCluster",
    name: cluster.metadata.name,
    uid: cluster.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The labels of a region's objects and pods: the cluster's, and the region's. */
export function regionLabels(cluster: string, region: string): Record<string, string> {
  return { ...clusterLabels(cluster), [labelKeys.region]: region };
}

export function meta(cluster: GeoBrokerCluster, name: string, extraLabels: Record<string, string> = {}) {
  return {
    name,
    namespace: cluster.metadata.namespace,
    labels: { ...clusterLabels(cluster.metadata.name), ...extraLabels },
    ownerReferences: [ownerReference(cluster)],
  };
}

/** The metadata of an object of one region (a StatefulSet, its Services). */
export function regionMeta(
  cluster: GeoBrokerCluster,
  name: string,
  region: string,
  extraLabels: Record<string, string> = {},
) {
  return meta(cluster, name, { [labelKeys.region]: region, ...extraLabels });
}
