import type { BrokerListeners, GeoBrokerCluster, RegionSpec } from "../api/types.js";
import type { KubeObject } from "./kube-object.js";
import { labelKeys, names, ports, selectorLabels } from "./names.js";
import { regionMeta } from "./object-meta.js";

// Clients outside Kubernetes: each broker's own Service (LoadBalancer or NodePort) and the
// address it advertises, which the client certificate, status.endpoints and the broker itself
// (its external listener, broker/src/api/external-listener.ts) all agree on. One place computes it.

/** The brokers' external listener: the target of every external Service. */
export const externalPort = 9002;

const fill = (template: string, node: string, ordinal: number) =>
  template.replaceAll("{node}", node).replaceAll("{ordinal}", String(ordinal));

/** The port an outside client dials for broker `ordinal`. */
function advertisedPort(type: "LoadBalancer" | "NodePort", b: BrokerListeners, ordinal: number): number {
  return type === "NodePort" ? (b.nodePortBase ?? 0) + ordinal : (b.port ?? ports.client);
}

/** Broker `ordinal` of `region`'s outside address, host:port; undefined without per-broker listeners. */
export function brokerAddress(
  cluster: GeoBrokerCluster,
  region: RegionSpec,
  ordinal: number,
): string | undefined {
  const x = region.external;
  if (!x?.brokers) return undefined;
  const node = names.pod(cluster.metadata.name, region.name, ordinal);
  return `${fill(x.brokers.host, node, ordinal)}:${advertisedPort(x.type, x.brokers, ordinal)}`;
}

/** The broker config's `external` section; undefined when no region has an external listener. */
export function externalConfig(cluster: GeoBrokerCluster): Record<string, unknown> | undefined {
  const regions = cluster.spec.regions.filter((r) => r.external);
  if (regions.length === 0) return undefined;
  const advertised: Record<string, unknown> = {};
  for (const r of regions) {
    const b = r.external!.brokers;
    if (!b) continue;
    // The broker forms the same address from the node id (= pod name) as brokerAddress does.
    advertised[r.name] =
      r.external!.type === "NodePort"
        ? { host: b.host, portBase: b.nodePortBase }
        : { host: b.host, port: b.port ?? ports.client };
  }
  return { port: externalPort, advertised };
}

/** One Service per broker of the region, selecting its pod by name. */
export function brokerServices(cluster: GeoBrokerCluster, region: RegionSpec, count: number): KubeObject[] {
  const x = region.external;
  if (!x?.brokers) return [];
  const b = x.brokers;
  const c = cluster.metadata.name;
  return Array.from({ length: count }, (_, ordinal) => {
    const node = names.pod(c, region.name, ordinal);
    const m = regionMeta(cluster, names.brokerExternalService(c, region.name, ordinal), region.name, {
      [labelKeys.externalNode]: node,
    });
    const annotations = Object.fromEntries(
      Object.entries(b.annotations ?? {}).map(([k, v]) => [k, fill(v, node, ordinal)]),
    );
    return {
      apiVersion: "v1",
      kind: "Service",
      metadata: { ...m, annotations },
      spec: {
        type: x.type,
        selector: { ...selectorLabels(c, region.name), "statefulset.kubernetes.io/pod-name": node },
        ports: [
          {
            name: "external",
            port: x.type === "NodePort" ? ports.client : advertisedPort(x.type, b, ordinal),
            targetPort: "external",
            ...(x.type === "NodePort" ? { nodePort: advertisedPort(x.type, b, ordinal) } : {}),
          },
        ],
        ...(x.loadBalancerSourceRanges ? { loadBalancerSourceRanges: x.loadBalancerSourceRanges } : {}),
      },
    };
  });
}

/**
 * The names outside clients verify on the client port: the regions' bootstrap hosts and every
 * broker's own host, for the brokers the spec asks for.
 */
export function externalNames(cluster: GeoBrokerCluster): string[] {
  const out = new Set<string>();
  for (const r of cluster.spec.regions) {
    for (const h of r.external?.hosts ?? []) out.add(h);
    for (let i = 0; i < r.replicas; i++) {
      const a = brokerAddress(cluster, r, i);
      if (a) out.add(a.slice(0, a.lastIndexOf(":")));
    }
  }
  return [...out];
}

/** status.endpoints.brokers: node id to outside address, for the brokers the spec asks for. */
export function brokerEndpoints(cluster: GeoBrokerCluster): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const r of cluster.spec.regions)
    for (let i = 0; i < r.replicas; i++) {
      const a = brokerAddress(cluster, r, i);
      if (a) out[names.pod(cluster.metadata.name, r.name, i)] = a;
    }
  return Object.keys(out).length > 0 ? out : undefined;
}
