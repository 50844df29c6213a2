// The custom resources as TypeScript types. They mirror the OpenAPI schemas in crds/; the
// schemas are the source of truth for what the API server accepts, these types describe what
// the operator reads after defaults (see defaults.ts) are applied.

export const group = "geobroker.io";
export const version = "v1alpha1";
export const apiVersion = `${group}/${version}`;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export type ConditionType = "Ready" | "Progressing" | "Degraded";

export type ReclaimPolicy = "Retain" | "Delete";

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface RegionSpec {
  name: string;
  replicas: number;
  /** Zone labels spread the region's pods; empty means "no zone". */
  zones?: string[];
  nodeSelector?: Record<string, string>;
  affinity?: Record<string, unknown>;
  tolerations?: Record<string, unknown>[];
  service?: { type?: "ClusterIP" | "NodePort" | "LoadBalancer"; annotations?: Record<string, string> };
  resources?: ResourceRequirements;
  /** A listener for clients outside Kubernetes: its own Service, its hosts in the client certificate. */
  external?: ExternalListener;
  /** Overrides spec.storage.size/storageClassName for this region (regions differ in disks). */
  storage?: { size?: string; storageClassName?: string };
}

export interface ExternalListener {
  type: "LoadBalancer" | "NodePort";
  annotations?: Record<string, string>;
  /** Names clients outside use (DNS names of the load balancer, node addresses): in the certificate and status. */
  hosts: string[];
  /** The Service port (default 9000); with NodePort, `nodePort` pins the node port. */
  port?: number;
  nodePort?: number;
  loadBalancerSourceRanges?: string[];
  /** One Service per broker, each broker advertising its own outside address (as Strimzi's per-broker listeners). */
  brokers?: BrokerListeners;
}

/**
 * Per-broker external Services. Broker `n` of the region (pod `<cluster>-<region>-<n>`) is reached
 * at `host` with `{node}` replaced by its pod name and `{ordinal}` by n, on `port` (LoadBalancer)
 * or `nodePortBase + n` (NodePort). That address is in the client certificate, in
 * status.endpoints.brokers and what the broker hands outside clients (leader hints, node lists).
 */
export interface BrokerListeners {
  host: string;
  /** LoadBalancer: every broker's Service port (default 9000). */
  port?: number;
  /** NodePort (required there): broker n's node port is nodePortBase + n. */
  nodePortBase?: number;
  /** On each broker's Service; `{node}` and `{ordinal}` are replaced (an external-dns hostname). */
  annotations?: Record<string, string>;
}

/**
 * Pod template overrides, as Strimzi's `template` or RabbitMQ's `override`: merged over what the
 * operator builds. Lists of named items (containers, volumes, env, ports) merge by name; the
 * operator's selector labels, identity variables and volumes stay as the operator sets them.
 */
export interface PodTemplateSpec {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  imagePullSecrets?: { name: string }[];
  priorityClassName?: string;
  serviceAccountName?: string;
  env?: Record<string, unknown>[];
  /** Merged into the pod spec. */
  pod?: Record<string, unknown>;
  /** Merged into the broker container. */
  container?: Record<string, unknown>;
}

export interface StorageSpec {
  size: string;
  storageClassName?: string;
  /** What happens to a removed node's volume: kept for a later scale-up, or deleted. */
  reclaimPolicy: ReclaimPolicy;
}

export interface TlsSpec {
  /** cert-manager issuer to sign peer and client certificates; absent: the operator makes a self-signed CA. */
  issuerRef?: { name: string; kind: "Issuer" | "ClusterIssuer"; group?: string };
}

export interface AuthSpec {
  mode: "basic" | "none";
}

export interface GeoBrokerClusterSpec {
  image: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  regions: RegionSpec[];
  /** Fewer than 3 regions cannot survive the loss of a region; set to acknowledge that. */
  allowFewerThanThreeRegions?: boolean;
  storage: StorageSpec;
  replication: { factor: number };
  retention: { maxAgeMs: number; maxBytes: number; maxMessages: number };
  tls: TlsSpec;
  auth: AuthSpec;
  logLevel: "error" | "warn" | "info" | "debug";
  /** Extra keys merged over the generated broker config file. */
  config?: Record<string, unknown>;
  template?: PodTemplateSpec;
}

export interface RegionStatus {
  name: string;
  desiredReplicas: number;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
}

export interface MemberStatus {
  nodeId: string;
  region: string;
  state: string;
  reachable: boolean;
}

export interface GeoBrokerClusterStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  regions?: RegionStatus[];
  members?: MemberStatus[];
  /** Node id of the metadata group's leader. */
  leader?: string;
  /** "eu,us,ap" for `kubectl get` */
  regionNames?: string;
  /** "ready/desired" nodes for `kubectl get` */
  readyNodes?: string;
  endpoints?: {
    cluster: string;
    regions: Record<string, string>;
    external?: Record<string, string[]>;
    /** Each broker's own outside address (node id to host:port), for regions with `external.brokers`. */
    brokers?: Record<string, string>;
  };
  /** The step the operator is working on, for humans; never read back by the operator. */
  currentStep?: string;
  warnings?: string[];
}

export interface GeoBrokerCluster {
  apiVersion: string;
  kind: "GeoBrokerCluster";
  metadata: ObjectMeta;
  spec: GeoBrokerClusterSpec;
  status?: GeoBrokerClusterStatus;
}

export interface GeoBrokerTopicSpec {
  clusterRef: { name: string };
  /** Broker topic name; defaults to metadata.name. */
  topicName?: string;
  partitions?: number;
  replicationFactor?: number;
  retention?: { maxAgeMs?: number; maxBytes?: number; maxMessages?: number; keepUnacknowledged?: boolean };
  homeRegion?: string;
  /** Delete the broker topic (and its messages) when this resource is deleted. */
  deleteOnRemoval?: boolean;
}

export interface GeoBrokerTopic {
  apiVersion: string;
  kind: "GeoBrokerTopic";
  metadata: ObjectMeta;
  spec: GeoBrokerTopicSpec;
  status?: { observedGeneration?: number; conditions?: Condition[]; topicName?: string; partitions?: number };
}

/** The node count of one region, with the scale subresource (kubectl scale, HPA, KEDA). */
export interface GeoBrokerNodePool {
  apiVersion: string;
  kind: "GeoBrokerNodePool";
  metadata: ObjectMeta;
  spec: { clusterRef: { name: string }; region: string; replicas: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    selector?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

export type Permission = "publish" | "subscribe" | "admin";

export interface GeoBrokerUserSpec {
  clusterRef: { name: string };
  /** Secret (key `password`) with the user's password; absent: the operator generates one. */
  passwordSecretRef?: { name: string; key?: string };
  acls: { topicPattern: string; permissions: Permission[] }[];
}

export interface GeoBrokerUser {
  apiVersion: string;
  kind: "GeoBrokerUser";
  metadata: ObjectMeta;
  spec: GeoBrokerUserSpec;
  status?: { observedGeneration?: number; conditions?: Condition[]; secretName?: string };
}
