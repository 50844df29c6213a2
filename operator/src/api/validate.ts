import type { GeoBrokerClusterSpec } from "./types.js";

// The operator's own copy of the CRD's CEL rules. The API server enforces them on admission; the
// operator checks again because a CRD may be installed without them (old chart, --validate=false)
// and because a rejected spec must surface as a Degraded condition with the same message.
// Keep the messages identical to the `message` fields in crds/geobroker.io_geobrokerclusters.yaml.

export const messages = {
  uniqueRegions: "region names must be unique",
  replicasAtLeastOne: "replicas must be at least 1; remove the region from spec.regions to delete it",
  threeRegions:
    "at least 3 regions are needed to survive the loss of a region; set spec.allowFewerThanThreeRegions: true to run with fewer",
  regionName: "region names are lowercase letters, digits and '-', at most 20 characters",
  noRegions: "spec.regions must name at least one region",
  image: "spec.image must name the broker image",
  storageClassImmutable: "spec.storage.storageClassName cannot change after creation",
  storageShrink: "volumes cannot shrink: the storage size may only grow",
  ownedConfigKey: "is set by the operator and cannot be overridden in spec.config",
  ownedEnv: "is set by the operator (the node's identity): GEOBROKER_* and POD_NAME cannot be overridden",
  replicationFactor: "spec.replication.factor must be between 1 and 7",
  nodePortBase:
    "external.brokers with type NodePort needs nodePortBase: broker n's node port is nodePortBase + n",
} as const;

/**
 * Broker config keys the operator decides: the pods' ports, volume, identity and TLS files are
 * wired into the StatefulSet and Services, and `peers` is frozen at creation.
 */
export const ownedConfigKeys = [
  "clusterId",
  "production",
  "listenHost",
  "ports",
  "dataDir",
  "peers",
  "seeds",
  "tls",
  "external",
] as const;

/** Environment variables the broker's identity comes from (see the StatefulSet builder). */
const ownedEnv = ["POD_NAME"];

export interface SpecProblem {
  path: string;
  message: string;
}

const regionNamePattern = /^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$/;

/** Every problem with a spec, empty when it is valid. `old` is the spec last acted on, if any. */
export function validateSpec(spec: GeoBrokerClusterSpec, old?: GeoBrokerClusterSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!spec.image) problems.push({ path: "spec.image", message: messages.image });
  if (spec.regions.length === 0) problems.push({ path: "spec.regions", message: messages.noRegions });
  const names = spec.regions.map((r) => r.name);
  if (new Set(names).size !== names.length)
    problems.push({ path: "spec.regions", message: messages.uniqueRegions });
  spec.regions.forEach((r, i) => {
    if (!regionNamePattern.test(r.name))
      problems.push({ path: `spec.regions[${i}].name`, message: messages.regionName });
    const x = r.external;
    if (x?.brokers && x.type === "NodePort" && x.brokers.nodePortBase === undefined)
      problems.push({ path: `spec.regions[${i}].external.brokers`, message: messages.nodePortBase });
    if (!Number.isInteger(r.replicas) || r.replicas < 1) {
      problems.push({ path: `spec.regions[${i}].replicas`, message: messages.replicasAtLeastOne });
    }
  });
  if (spec.regions.length > 0 && spec.regions.length < 3 && spec.allowFewerThanThreeRegions !== true) {
    problems.push({ path: "spec.regions", message: messages.threeRegions });
  }
  const f = spec.replication.factor;
  if (!Number.isInteger(f) || f < 1 || f > 7) {
    problems.push({ path: "spec.replication.factor", message: messages.replicationFactor });
  }
  if (old && (old.storage.storageClassName ?? "") !== (spec.storage.storageClassName ?? "")) {
    problems.push({ path: "spec.storage.storageClassName", message: messages.storageClassImmutable });
  }
  for (const e of spec.template?.env ?? []) {
    const name = String((e as { name?: unknown }).name ?? "");
    if (ownedEnv.includes(name) || name.startsWith("GEOBROKER_"))
      problems.push({ path: `spec.template.env[${name}]`, message: messages.ownedEnv });
  }
  for (const key of Object.keys(spec.config ?? {})) {
    if ((ownedConfigKeys as readonly string[]).includes(key))
      problems.push({ path: `spec.config.${key}`, message: messages.ownedConfigKey });
  }
  return problems;
}

/** Non-fatal advice shown as a Warning event and in status.warnings. */
export function specWarnings(spec: GeoBrokerClusterSpec): string[] {
  const warnings: string[] = [];
  if (spec.regions.length < 3 && spec.allowFewerThanThreeRegions === true) {
    warnings.push(
      `running with ${spec.regions.length} region(s): losing a region loses quorum (allowFewerThanThreeRegions is set)`,
    );
  }
  const nodes = spec.regions.reduce((n, r) => n + r.replicas, 0);
  if (spec.replication.factor > nodes) {
    warnings.push(
      `replication factor ${spec.replication.factor} exceeds the ${nodes} node(s); topics get ${nodes} replicas`,
    );
  }
  return warnings;
}
