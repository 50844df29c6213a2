import { regionStorage, withDefaults } from "../api/defaults.js";
import type { GeoBrokerCluster } from "../api/types.js";
import { messages, type SpecProblem, specWarnings, validateSpec } from "../api/validate.js";
import { brokerConfig, type PeerEntry, peerEntry, specPeers } from "../model/broker-config.js";
import {
  clusterService,
  configMap,
  externalService,
  metricsService,
  peerService,
  podDisruptionBudget,
  regionService,
  statefulSet,
  tlsObjects,
  usersSecret,
} from "../model/builders.js";
import { clientCaConfigMap, peerCaConfigMap } from "../model/client-ca.js";
import { brokerServices } from "../model/external.js";
import type { KubeObject, ObjectRef } from "../model/kube-object.js";
import { finalizer, names } from "../model/names.js";
import { compareQuantities } from "../model/quantity.js";
import { decide } from "./decide.js";
import type { Observed } from "./observed.js";
import { buildStatus } from "./status.js";
import { planTeardown } from "./teardown.js";
import type { Decision, Plan, PlanInput, PlannedEvent, ScaleChange, VolumeResize } from "./types.js";
import { pollMs, resyncMs } from "./types.js";
import { volumeRecord } from "./volumes.js";

export { quorumRisk } from "./quorum.js";
export type { MembershipAction, Plan, PlanInput, PlannedEvent, ScaleChange } from "./types.js";
export { caughtUpLagEntries, pollMs, resyncMs } from "./types.js";

// The pure planner: (spec, observed) -> (desired objects, at most one membership action, status).
// One step at a time across the whole cluster, since quorum spans regions. Nothing here is
// remembered between calls: what step comes next is read from the StatefulSets, pods, the
// ConfigMap and the broker's own membership, so an operator that crashed mid-step takes the same
// step again (every broker admin call is idempotent). The steps are the rule chain of decide.ts.

export const pauseAnnotation = "geobroker.io/pause-reconcile";

export function plan(input: PlanInput): Plan {
  const cluster: GeoBrokerCluster = { ...input.cluster, spec: withDefaults(input.cluster.spec) };
  if (cluster.metadata.deletionTimestamp) return planTeardown(cluster, input);

  const hasFinalizer = cluster.metadata.finalizers?.includes(finalizer) ?? false;
  const { observed } = input;
  const storage = storagePlan(cluster, observed);
  const problems = [...validateSpec(cluster.spec), ...storage.problems];
  if (problems.length > 0) return planInvalid(cluster, input, problems, hasFinalizer);
  if (cluster.metadata.annotations?.[pauseAnnotation] === "true")
    return planPaused(cluster, input, hasFinalizer);

  const bootstrap = observed.statefulSets.length === 0 && observed.initialPeers === undefined;
  const initialPeers =
    observed.initialPeers ?? (bootstrap ? specPeers(cluster) : existingPeers(cluster, observed));
  const formed = observed.formed === true || (observed.broker.reachable && observed.broker.nodes.length > 0);
  const config = brokerConfig(cluster, initialPeers, ...(input.enrollmentUrl ? [input.enrollmentUrl] : []));
  const removed = removedRegions(cluster, observed);
  const volumes = volumeRecord(cluster.metadata.name, observed);
  const decision = decide({
    cluster,
    observed,
    removed,
    replaced: volumes.replaced,
    initialPeers,
    bootstrap,
    formed,
  });

  const certRegions = [...cluster.spec.regions.map((r) => r.name), ...removed];
  const apply: KubeObject[] = [
    configMap(cluster, config, { formed, memberVolumes: volumes.record }),
    clusterService(cluster),
    ...tlsObjects(cluster, certRegions),
  ];
  if (cluster.spec.auth.mode === "basic") apply.push(usersSecret(cluster, observed.users));
  if (observed.operatorCa !== undefined) apply.push(clientCaConfigMap(cluster, observed.operatorCa));
  if (observed.peerTrust !== undefined) apply.push(peerCaConfigMap(cluster, observed.peerTrust));
  const totalDesired = cluster.spec.regions.reduce((n, r) => n + r.replicas, 0);
  apply.push(podDisruptionBudget(cluster, totalDesired));
  for (const region of cluster.spec.regions) {
    apply.push(
      peerService(cluster, region.name),
      regionService(cluster, region),
      metricsService(cluster, region.name),
    );
    const external = externalService(cluster, region);
    if (external) apply.push(external);
    apply.push(...brokerServices(cluster, region, brokerServiceCount(observed, region.name, decision)));
    const claimSize = observed.statefulSets.find((s) => s.region === region.name)?.storageSize;
    apply.push(
      statefulSet(cluster, {
        region,
        replicas: decision.replicas.get(region.name) ?? 0,
        config,
        ...(claimSize ? { claimSize } : {}),
      }),
    );
  }

  const { deletes, events: deleteEvents } = plannedDeletes(cluster, observed, decision, removed);
  deletes.push(...unwantedBrokerServices(cluster, observed, apply));
  const scale = removedRegionScales(cluster, observed, decision, removed);
  const warnings = specWarnings(cluster.spec);
  const events = [
    ...(hasFinalizer
      ? []
      : warnings.map((message) => ({ type: "Warning" as const, reason: "SpecWarning", message }))),
    ...unrepeated(cluster, decision),
    ...deleteEvents,
    ...storage.events,
  ];
  const status = buildStatus(cluster, input, decision, warnings);
  return {
    apply,
    delete: deletes,
    scale,
    resize: storage.resize,
    ...(decision.action ? { action: decision.action } : {}),
    ...(hasFinalizer ? {} : { finalizer: "add" as const }),
    status,
    events,
    requeueAfterMs: decision.step || decision.blocked ? pollMs : resyncMs,
  };
}

/**
 * A blocked step is re-planned at every poll; its Warning is recorded when the block starts or
 * changes, not every 5 s (the previous status holds the block the last reconcile reported).
 */
function unrepeated(cluster: GeoBrokerCluster, decision: Decision): PlannedEvent[] {
  const b = decision.blocked;
  if (!b) return decision.events;
  const prev = cluster.status?.conditions?.find((c) => c.type === "Degraded");
  const same = prev?.status === "True" && prev.reason === b.reason && prev.message === b.message;
  return same
    ? decision.events.filter((e) => e.type !== "Warning" || e.reason !== b.reason)
    : decision.events;
}

/**
 * Storage by value: a smaller size or another class than the running StatefulSet's is refused;
 * a larger size grows every claim of the region in place (the claim template stays as it is).
 */
function storagePlan(cluster: GeoBrokerCluster, observed: Observed) {
  const problems: SpecProblem[] = [];
  const resize: VolumeResize[] = [];
  const events: PlannedEvent[] = [];
  for (const sts of observed.statefulSets) {
    const region = cluster.spec.regions.find((r) => r.name === sts.region);
    if (!region) continue;
    const want = regionStorage(cluster.spec, region);
    if ((sts.storageClassName ?? "") !== (want.storageClassName ?? "")) {
      problems.push({ path: "spec.storage.storageClassName", message: messages.storageClassImmutable });
      continue;
    }
    const pvcs = observed.pvcs.filter((p) => p.region === sts.region);
    const sizes = [sts.storageSize, ...pvcs.map((p) => p.size ?? "")].filter(Boolean);
    if (sizes.some((s) => (compareQuantities(want.size, s) ?? 0) < 0)) {
      problems.push({ path: `spec.regions[${sts.region}].storage.size`, message: messages.storageShrink });
      continue;
    }
    for (const p of pvcs) {
      if (p.size && (compareQuantities(want.size, p.size) ?? 0) > 0) {
        resize.push({
          ref: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            namespace: cluster.metadata.namespace,
            name: p.name,
          },
          size: want.size,
        });
        events.push({
          type: "Normal",
          reason: "ExpandingVolume",
          message: `growing ${p.name} from ${p.size} to ${want.size}`,
        });
      }
    }
  }
  return { problems: dedupe(problems), resize, events };
}

function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => !seen.has(p.path + p.message) && seen.add(p.path + p.message));
}

function removedRegions(cluster: GeoBrokerCluster, observed: Observed): string[] {
  const wanted = new Set(cluster.spec.regions.map((r) => r.name));
  return observed.statefulSets.map((s) => s.region).filter((r) => !wanted.has(r));
}

/** Without a ConfigMap to read them from, the voters are the pods the StatefulSets already run. */
function existingPeers(cluster: GeoBrokerCluster, observed: Observed): PeerEntry[] {
  return observed.statefulSets.flatMap((s) =>
    Array.from({ length: s.replicas }, (_, ordinal) => peerEntry(cluster, s.region, ordinal)),
  );
}

/**
 * A removed region's StatefulSet is no longer built (its spec is gone); it is only scaled, node by
 * node, and deleted once empty. Its template stays as it was, so its pods are not rolled.
 */
function removedRegionScales(
  cluster: GeoBrokerCluster,
  observed: Observed,
  decision: Decision,
  removed: string[],
): ScaleChange[] {
  const scale: ScaleChange[] = [];
  for (const region of removed) {
    const have = observed.statefulSets.find((s) => s.region === region)?.replicas ?? 0;
    const want = decision.replicas.get(region) ?? have;
    if (want === have) continue;
    const name = names.statefulSet(cluster.metadata.name, region);
    scale.push({
      ref: { apiVersion: "apps/v1", kind: "StatefulSet", namespace: cluster.metadata.namespace, name },
      replicas: want,
    });
  }
  return scale;
}

function plannedDeletes(
  cluster: GeoBrokerCluster,
  observed: Observed,
  decision: Decision,
  removed: string[],
) {
  const c = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const deletes: ObjectRef[] = [];
  const events: PlannedEvent[] = [];
  const podOrdinals = new Set(observed.pods.map((p) => `${p.region}/${p.ordinal}`));
  const current = new Map(observed.statefulSets.map((s) => [s.region, s.replicas]));
  for (const region of removed) {
    const emptied = (current.get(region) ?? 0) === 0 && !observed.pods.some((p) => p.region === region);
    if (!emptied) continue;
    deletes.push(
      { apiVersion: "apps/v1", kind: "StatefulSet", namespace: ns, name: names.statefulSet(c, region) },
      { apiVersion: "v1", kind: "Service", namespace: ns, name: names.peerService(c, region) },
      { apiVersion: "v1", kind: "Service", namespace: ns, name: names.regionService(c, region) },
      { apiVersion: "v1", kind: "Service", namespace: ns, name: names.metricsService(c, region) },
      { apiVersion: "v1", kind: "Service", namespace: ns, name: names.externalService(c, region) },
    );
    events.push({
      type: "Normal",
      reason: "RegionRemoved",
      message: `region ${region} has no nodes left; deleting its StatefulSet and Services`,
    });
  }
  if (cluster.spec.storage.reclaimPolicy === "Delete") {
    for (const pvc of observed.pvcs) {
      const inUse =
        pvc.ordinal < (current.get(pvc.region) ?? 0) || podOrdinals.has(`${pvc.region}/${pvc.ordinal}`);
      const wanted = pvc.ordinal < (decision.replicas.get(pvc.region) ?? 0);
      if (inUse || wanted) continue;
      deletes.push({ apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: ns, name: pvc.name });
      events.push({
        type: "Normal",
        reason: "DeletingVolume",
        message: `deleting volume claim ${pvc.name} of a removed node (reclaimPolicy: Delete)`,
      });
    }
  }
  return { deletes, events };
}

function statusOnly(
  cluster: GeoBrokerCluster,
  input: PlanInput,
  decision: Decision,
  hasFinalizer: boolean,
  requeueAfterMs: number,
): Plan {
  return {
    apply: [],
    delete: [],
    scale: [],
    resize: [],
    ...(hasFinalizer ? {} : { finalizer: "add" as const }),
    status: buildStatus(cluster, input, decision, []),
    events: unrepeated(cluster, decision),
    requeueAfterMs,
  };
}

function planInvalid(
  cluster: GeoBrokerCluster,
  input: PlanInput,
  problems: SpecProblem[],
  hasFinalizer: boolean,
): Plan {
  const message = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  const blocked = { reason: "InvalidSpec", message: `the spec is not applied: ${message}` };
  const decision: Decision = {
    replicas: new Map(),
    blocked,
    events: [{ type: "Warning", ...blocked }],
  };
  return statusOnly(cluster, input, decision, hasFinalizer, resyncMs);
}

/** `geobroker.io/pause-reconcile: "true"`: nothing is written but the status, until it is removed. */
function planPaused(cluster: GeoBrokerCluster, input: PlanInput, hasFinalizer: boolean): Plan {
  const decision: Decision = {
    replicas: new Map(),
    step: { reason: "Paused", message: `reconciliation is paused by the ${pauseAnnotation} annotation` },
    events: [],
  };
  return statusOnly(cluster, input, decision, hasFinalizer, resyncMs);
}

/** A broker's own Service exists while the spec wants the broker or its pod still runs. */
function brokerServiceCount(observed: Observed, region: string, decision: Decision): number {
  const pods = observed.pods.filter((p) => p.region === region).map((p) => p.ordinal + 1);
  return Math.max(decision.replicas.get(region) ?? 0, ...pods);
}

/** Per-broker Services no longer built (a broker removed, a region's listener dropped). */
function unwantedBrokerServices(
  cluster: GeoBrokerCluster,
  observed: Observed,
  apply: KubeObject[],
): ObjectRef[] {
  const built = new Set(apply.filter((o) => o.kind === "Service").map((o) => o.metadata.name));
  return (observed.brokerServices ?? [])
    .filter((name) => !built.has(name))
    .map((name) => ({ apiVersion: "v1", kind: "Service", namespace: cluster.metadata.namespace, name }));
}
