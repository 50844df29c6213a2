import { parse } from "yaml";
import type { GeoBrokerCluster, GeoBrokerUser } from "../api/types.js";
import { initialPeersFromConfigText } from "../model/broker-config.js";
import type { UserEntry } from "../model/builders.js";
import { annotationKeys, configFileName, labelKeys, parsePodName } from "../model/names.js";
import { passwordSecretName } from "../model/users.js";
import type { ObservedPod, ObservedPvc, ObservedStatefulSet } from "../plan/observed.js";

// Kubernetes objects as they come from the API server, reduced to what the planner reads. Pure:
// the controller lists, these functions interpret.

interface K8sStatefulSet {
  metadata: { labels?: Record<string, string>; generation?: number };
  spec: {
    replicas?: number;
    volumeClaimTemplates?: {
      spec?: { storageClassName?: string; resources?: { requests?: Record<string, string> } };
    }[];
  };
  status?: {
    readyReplicas?: number;
    updatedReplicas?: number;
    updateRevision?: string;
    observedGeneration?: number;
  };
}

interface K8sPod {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: unknown;
  };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; state?: { running?: unknown } }[];
  };
}

export function observeStatefulSet(sts: K8sStatefulSet): ObservedStatefulSet | undefined {
  const region = sts.metadata.labels?.[labelKeys.region];
  if (!region) return undefined;
  const claim = sts.spec.volumeClaimTemplates?.[0]?.spec;
  return {
    region,
    replicas: sts.spec.replicas ?? 0,
    readyReplicas: sts.status?.readyReplicas ?? 0,
    updatedReplicas: sts.status?.updatedReplicas ?? 0,
    updateRevision: sts.status?.updateRevision ?? "",
    storageSize: claim?.resources?.requests?.storage ?? "",
    ...(claim?.storageClassName ? { storageClassName: claim.storageClassName } : {}),
    settled: (sts.status?.observedGeneration ?? 0) >= (sts.metadata.generation ?? 0),
  };
}

/** The zone label of Kubernetes nodes (topology.kubernetes.io/zone). */
export const zoneLabel = "topology.kubernetes.io/zone";

/** `zones`: node name to its zone label, for the nodes that could be read. */
export function observePod(
  cluster: string,
  pod: K8sPod,
  zones: ReadonlyMap<string, string> = new Map(),
): ObservedPod | undefined {
  const region = pod.metadata.labels?.[labelKeys.region];
  if (!region) return undefined;
  const ordinal = parsePodName(cluster, region, pod.metadata.name);
  if (ordinal === undefined) return undefined;
  const broker = pod.status?.containerStatuses?.find((c) => c.name === "broker");
  return {
    name: pod.metadata.name,
    region,
    ordinal,
    running: pod.status?.phase === "Running" && !!broker?.state?.running,
    ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    revision: pod.metadata.labels?.["controller-revision-hash"] ?? "",
    terminating: !!pod.metadata.deletionTimestamp,
    ...(pod.metadata.annotations?.[annotationKeys.manualRoll] === "true" ? { manualRoll: true } : {}),
    ...(pod.spec?.nodeName && zones.has(pod.spec.nodeName) ? { zone: zones.get(pod.spec.nodeName)! } : {}),
  };
}

export function observePvc(
  cluster: string,
  pvc: {
    metadata: { name: string; uid?: string; labels?: Record<string, string> };
    spec?: { resources?: { requests?: Record<string, string> } };
  },
): ObservedPvc | undefined {
  const region = pvc.metadata.labels?.[labelKeys.region];
  if (!region || !pvc.metadata.name.startsWith("data-")) return undefined;
  const ordinal = parsePodName(cluster, region, pvc.metadata.name.slice("data-".length));
  if (ordinal === undefined) return undefined;
  const size = pvc.spec?.resources?.requests?.storage;
  const uid = pvc.metadata.uid;
  return { name: pvc.metadata.name, region, ordinal, ...(size ? { size } : {}), ...(uid ? { uid } : {}) };
}

/** The ConfigMap's record of each member's volume claim uid; empty when absent or unreadable. */
export function memberVolumesOf(
  configMap: { metadata?: { annotations?: Record<string, string> } } | undefined,
) {
  const text = configMap?.metadata?.annotations?.[annotationKeys.memberVolumes];
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

export function initialPeersOf(configMap: { data?: Record<string, string> } | undefined) {
  return initialPeersFromConfigText(configMap?.data?.[configFileName], parse);
}

/** The GeoBrokerUsers of a cluster whose password is known; the others wait for their Secret. */
export function usersOf(
  cluster: GeoBrokerCluster,
  users: GeoBrokerUser[],
  passwords: Map<string, string>,
  entry: (u: GeoBrokerUser, password: string) => UserEntry,
): UserEntry[] {
  return users
    .filter((u) => u.spec.clusterRef.name === cluster.metadata.name && !u.metadata.deletionTimestamp)
    .flatMap((u) => {
      const pw = passwords.get(passwordSecretName(u));
      return pw === undefined ? [] : [entry(u, pw)];
    });
}
