// Names and labels of every object the operator makes for a cluster. One place, so that the
// builders, the planner and the controller's selectors can never disagree.

// admin: loopback only in the pod, POST /drain without credentials for the preStop hook.
export const ports = { client: 9000, peer: 9100, http: 9200, admin: 9201 } as const;
export const dataDir = "/var/lib/geobroker";
export const configDir = "/etc/geobroker/config";
export const configFileName = "broker.yaml";
export const tlsDir = "/etc/geobroker/tls";
export const usersDir = "/etc/geobroker/users";
/** The node's own peer key and certificate (an in-memory emptyDir), written by the broker itself. */
export const peerIssuedDir = "/var/run/geobroker/peer";
/** The pod's projected service-account token for the operator's enrollment endpoint. */
export const enrollmentTokenDir = "/var/run/secrets/geobroker";
/** The audience of the token a broker proves itself with to the enrollment endpoint. */
export const enrollmentAudience = "geobroker-operator";
/** The operator's enrollment endpoint (its Service and port, in the operator's namespace). */
export const enrollmentDefaults = {
  service: "geobroker-operator",
  port: 8443,
  namespace: "geobroker-system",
} as const;
export function enrollmentUrl(o: { service: string; namespace: string; port: number }): string {
  return `https://${o.service}.${o.namespace}.svc:${o.port}/v1/peer-certificates`;
}
export const fieldManager = "geobroker-operator";
export const finalizer = "geobroker.io/teardown";

export const labelKeys = {
  name: "app.kubernetes.io/name",
  instance: "app.kubernetes.io/instance",
  component: "app.kubernetes.io/component",
  managedBy: "app.kubernetes.io/managed-by",
  cluster: "geobroker.io/cluster",
  region: "geobroker.io/region",
  /** On the per-region metrics Services: what the chart's ServiceMonitor selects. */
  metrics: "geobroker.io/metrics",
  /** On a broker's own external Service: the pod (node id) it reaches. */
  externalNode: "geobroker.io/external-node",
} as const;

export const annotationKeys = {
  configHash: "geobroker.io/config-hash",
  /** On the ConfigMap: the initial voters have formed the cluster (the broker listed its members). */
  formed: "geobroker.io/formed",
  /** On the ConfigMap: JSON {nodeId: claim uid} of the volume each member joined with. */
  memberVolumes: "geobroker.io/member-volumes",
  /** On the cluster, copied to the pod template: a new value restarts every pod, safely. */
  restart: "geobroker.io/restart",
  /** On a pod: restart this pod, safely (leaderships moved, quorum kept), as if it were outdated. */
  manualRoll: "geobroker.io/manual-roll",
} as const;

export const names = {
  statefulSet: (cluster: string, region: string) => `${cluster}-${region}`,
  peerService: (cluster: string, region: string) => `${cluster}-${region}-peers`,
  regionService: (cluster: string, region: string) => `${cluster}-${region}`,
  /** Port 9200 (/metrics) of a region's pods, for Prometheus (ServiceMonitor) to find. */
  metricsService: (cluster: string, region: string) => `${cluster}-${region}-metrics`,
  /** A region's listener for clients outside Kubernetes (LoadBalancer or NodePort). */
  externalService: (cluster: string, region: string) => `${cluster}-${region}-external`,
  /** One broker's own external Service (per-broker listeners). */
  brokerExternalService: (cluster: string, region: string, ordinal: number) =>
    `${cluster}-${region}-${ordinal}-external`,
  clusterService: (cluster: string) => cluster,
  configMap: (cluster: string) => `${cluster}-config`,
  usersSecret: (cluster: string) => `${cluster}-users`,
  pdb: (cluster: string) => cluster,
  selfSignedIssuer: (cluster: string) => `${cluster}-selfsigned`,
  caCertificate: (cluster: string) => `${cluster}-ca`,
  caIssuer: (cluster: string) => `${cluster}-ca`,
  caSecret: (cluster: string) => `${cluster}-ca`,
  /** The CA of the client port's server certificates (the peer CA is `<cluster>-ca`). */
  serverCaCertificate: (cluster: string) => `${cluster}-server-ca`,
  serverCaIssuer: (cluster: string) => `${cluster}-server-ca`,
  serverCaSecret: (cluster: string) => `${cluster}-server-ca`,
  /** The client-certificate CA the brokers trust (certificates only, no key): the operator's identity. */
  clientCaConfigMap: (cluster: string) => `${cluster}-client-ca`,
  /** The peer CA and the enrollment endpoint's CA (certificates only): the operator signs peers itself. */
  peerCaConfigMap: (cluster: string) => `${cluster}-peer-ca`,
  peerCertificate: (cluster: string) => `${cluster}-peer`,
  peerSecret: (cluster: string) => `${cluster}-peer-tls`,
  clientCertificate: (cluster: string) => `${cluster}-client`,
  clientSecret: (cluster: string) => `${cluster}-client-tls`,
  /** Pod name = broker node id: stable across restarts, so the broker keeps its identity. */
  pod: (cluster: string, region: string, ordinal: number) => `${cluster}-${region}-${ordinal}`,
  /** The volumeClaimTemplate is named "data"; the StatefulSet controller names claims like this. */
  pvc: (cluster: string, region: string, ordinal: number) => `data-${cluster}-${region}-${ordinal}`,
};

export function peerHost(cluster: string, namespace: string, region: string, ordinal: number): string {
  return `${names.pod(cluster, region, ordinal)}.${names.peerService(cluster, region)}.${namespace}.svc`;
}

/** Labels every object of the cluster carries; selectors use the subset in `selectorLabels`. */
export function clusterLabels(cluster: string, component = "broker"): Record<string, string> {
  return {
    [labelKeys.name]: "geobroker",
    [labelKeys.instance]: cluster,
    [labelKeys.component]: component,
    [labelKeys.managedBy]: fieldManager,
    [labelKeys.cluster]: cluster,
  };
}

export function selectorLabels(cluster: string, region?: string): Record<string, string> {
  const labels: Record<string, string> = { [labelKeys.name]: "geobroker", [labelKeys.cluster]: cluster };
  if (region !== undefined) labels[labelKeys.region] = region;
  return labels;
}

/** Parses `<cluster>-<region>-<ordinal>`; undefined for a name that is not one of the cluster's pods. */
export function parsePodName(cluster: string, region: string, podName: string): number | undefined {
  const prefix = `${names.statefulSet(cluster, region)}-`;
  if (!podName.startsWith(prefix)) return undefined;
  const rest = podName.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}
