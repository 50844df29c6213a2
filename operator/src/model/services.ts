import type { GeoBrokerCluster, RegionSpec } from "../api/types.js";
import type { KubeObject } from "./kube-object.js";
import { labelKeys, names, ports, selectorLabels } from "./names.js";
import { meta, regionMeta } from "./object-meta.js";

// The Services of a cluster: peer DNS per region, region-local and cluster-wide clients, metrics
// for Prometheus, and the external listeners that clients outside Kubernetes reach.

export function peerService(cluster: GeoBrokerCluster, region: string): KubeObject {
  const c = cluster.metadata.name;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: regionMeta(cluster, names.peerService(c, region), region),
    spec: {
      clusterIP: "None",
      // Peers must resolve each other before they are ready: readiness needs a quorum.
      publishNotReadyAddresses: true,
      selector: selectorLabels(c, region),
      ports: [
        { name: "peer", port: ports.peer, targetPort: "peer" },
        { name: "client", port: ports.client, targetPort: "client" },
      ],
    },
  };
}

export function regionService(cluster: GeoBrokerCluster, region: RegionSpec): KubeObject {
  const c = cluster.metadata.name;
  const m = regionMeta(cluster, names.regionService(c, region.name), region.name);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { ...m, annotations: { ...(region.service?.annotations ?? {}) } },
    spec: {
      type: region.service?.type ?? "ClusterIP",
      selector: selectorLabels(c, region.name),
      ports: [{ name: "client", port: ports.client, targetPort: "client" }],
    },
  };
}

export function metricsService(cluster: GeoBrokerCluster, region: string): KubeObject {
  const c = cluster.metadata.name;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: regionMeta(cluster, names.metricsService(c, region), region, { [labelKeys.metrics]: "true" }),
    spec: {
      type: "ClusterIP",
      // Scrape every pod, ready or not: a node that cannot become ready is the one to look at.
      publishNotReadyAddresses: true,
      selector: selectorLabels(c, region),
      ports: [{ name: "http", port: ports.http, targetPort: "http" }],
    },
  };
}

/** A region's listener for clients outside Kubernetes; undefined when the region has none. */
export function externalService(cluster: GeoBrokerCluster, region: RegionSpec): KubeObject | undefined {
  const x = region.external;
  if (!x) return undefined;
  const c = cluster.metadata.name;
  const m = regionMeta(cluster, names.externalService(c, region.name), region.name);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { ...m, annotations: { ...(x.annotations ?? {}) } },
    spec: {
      type: x.type,
      selector: selectorLabels(c, region.name),
      ports: [
        {
          name: "client",
          port: x.port ?? ports.client,
          // The external listener: it answers with outside addresses (leader hints, node lists).
          targetPort: "external",
          ...(x.type === "NodePort" && x.nodePort ? { nodePort: x.nodePort } : {}),
        },
      ],
      ...(x.loadBalancerSourceRanges ? { loadBalancerSourceRanges: x.loadBalancerSourceRanges } : {}),
    },
  };
}

export function clusterService(cluster: GeoBrokerCluster): KubeObject {
  const c = cluster.metadata.name;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(cluster, names.clusterService(c)),
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(c),
      ports: [{ name: "client", port: ports.client, targetPort: "client" }],
    },
  };
}
