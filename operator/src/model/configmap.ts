import type { GeoBrokerCluster } from "../api/types.js";
import { type BrokerConfig, renderBrokerConfig } from "./broker-config.js";
import type { KubeObject } from "./kube-object.js";
import { annotationKeys, configFileName, names } from "./names.js";
import { meta } from "./object-meta.js";

// The ConfigMap with the brokers' config file, and the records the planner reads back from it.

/**
 * `formed` records on the ConfigMap that the initial voters formed the cluster: until then a
 * reconcile restarts creation (the formation rule of plan/decide.ts), afterwards never. An
 * annotation, so that it is no part of the config hash and rolls no pod.
 */
export function configMap(
  cluster: GeoBrokerCluster,
  config: BrokerConfig,
  o: { formed?: boolean; memberVolumes?: Record<string, string> } = {},
): KubeObject {
  const m = meta(cluster, names.configMap(cluster.metadata.name));
  const annotations: Record<string, string> = {};
  if (o.formed) annotations[annotationKeys.formed] = "true";
  if (o.memberVolumes && Object.keys(o.memberVolumes).length > 0)
    annotations[annotationKeys.memberVolumes] = JSON.stringify(
      Object.fromEntries(Object.entries(o.memberVolumes).sort(([a], [b]) => (a < b ? -1 : 1))),
    );
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: Object.keys(annotations).length > 0 ? { ...m, annotations } : m,
    data: { [configFileName]: renderBrokerConfig(config) },
  };
}
