import type { KubeObject } from "./kube-rest.js";

// The GeoBrokerCluster the e2e scenarios run (e2e/test/cluster.e2e.test.ts): three regions and
// their sizes, with outside listeners on eu (a LoadBalancer per broker) and us (a NodePort each).

export const ns = "messaging";
export const cluster = "demo";

export interface RegionSize {
  name: string;
  replicas: number;
}

export function clusterResource(
  sizes: RegionSize[],
  o: { logLevel?: string; annotations?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: "geobroker.io/v1alpha1",
    kind: "GeoBrokerCluster",
    metadata: { name: cluster, namespace: ns, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      image: "ghcr.io/geobroker/geobroker:0.1.0",
      regions: sizes.map((r) => ({
        name: r.name,
        replicas: r.replicas,
        nodeSelector: { "topology.kubernetes.io/region": r.name },
        ...(externalListeners[r.name] ? { external: externalListeners[r.name] } : {}),
      })),
      storage: { size: "1Gi", reclaimPolicy: "Delete" },
      replication: { factor: 3 },
      retention: { maxAgeMs: 86_400_000 },
      logLevel: o.logLevel ?? "info",
    },
  };
}

/** Clients outside Kubernetes: one LoadBalancer per eu broker, one NodePort per us broker. */
const externalListeners: Record<string, Record<string, unknown>> = {
  eu: {
    type: "LoadBalancer",
    hosts: ["eu.example.test"],
    brokers: { host: "{node}.eu.example.test", port: 443 },
  },
  us: {
    type: "NodePort",
    hosts: ["us.example.test"],
    brokers: { host: "us.example.test", nodePortBase: 31000 },
  },
};
