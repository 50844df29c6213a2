import type { GeoBrokerClusterSpec, RegionSpec } from "./types.js";

// The same defaults the CRD schema declares, applied in code too: objects read from a cache or
// written by an old operator version may predate a default, and tests build specs by hand.

export const defaultStorageSize = "10Gi";
export const defaultReplicationFactor = 3;
export const sevenDaysMs = 7 * 24 * 60 * 60 * 1000;

type DeepPartialSpec = Partial<Omit<GeoBrokerClusterSpec, "regions" | "storage">> & {
  regions?: (Partial<RegionSpec> & { name: string })[];
  storage?: Partial<GeoBrokerClusterSpec["storage"]>;
};

/** A region's storage: its own size and class where it sets them, the cluster's otherwise. */
export function regionStorage(
  spec: GeoBrokerClusterSpec,
  region: RegionSpec,
): { size: string; storageClassName?: string } {
  const size = region.storage?.size ?? spec.storage.size;
  const storageClassName = region.storage?.storageClassName ?? spec.storage.storageClassName;
  return { size, ...(storageClassName ? { storageClassName } : {}) };
}

export function withDefaults(spec: DeepPartialSpec): GeoBrokerClusterSpec {
  return {
    ...spec,
    image: spec.image ?? "",
    regions: (spec.regions ?? []).map((r) => ({ ...r, name: r.name, replicas: r.replicas ?? 3 })),
    storage: {
      ...spec.storage,
      size: spec.storage?.size ?? defaultStorageSize,
      reclaimPolicy: spec.storage?.reclaimPolicy ?? "Retain",
    },
    replication: { factor: spec.replication?.factor ?? defaultReplicationFactor },
    retention: {
      maxAgeMs: spec.retention?.maxAgeMs ?? sevenDaysMs,
      maxBytes: spec.retention?.maxBytes ?? 0,
      maxMessages: spec.retention?.maxMessages ?? 0,
    },
    tls: spec.tls ?? {},
    auth: { mode: spec.auth?.mode ?? "basic" },
    logLevel: spec.logLevel ?? "info",
  };
}
