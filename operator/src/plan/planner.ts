import { withDefaults } from "../api/defaults.js";
import type { GeoBrokerCluster, GeoBrokerClusterStatus, MemberStatus, RegionStatus } from "../api/types.js";
import { messages, type SpecProblem, specWarnings, validateSpec } from "../api/validate.js";
import { brokerConfig, type PeerEntry, peerEntry, specPeers } from "../model/broker-config.js";
import {
  clusterService,
  configMap,
  peerService,
  podDisruptionBudget,
  regionService,
  statefulSet,
  tlsObjects,
  usersSecret,
} from "../model/builders.js";
import type { KubeObject, ObjectRef } from "../model/kube-object.js";
import { finalizer, names, ports } from "../model/names.js";
import { condition } from "./conditions.js";
import type { BrokerNode, Observed, ObservedPod } from "./observed.js";

// The pure planner: (spec, observed) -> (desired objects, at most one membership action, status).
// One step at a time across the whole cluster, since quorum spans regions. Nothing here is
// remembered between calls: what step comes next is read from the StatefulSets, pods and the
// broker's own membership, so an operator that crashed mid-step takes the same step again
// (every broker admin call is idempotent).

export type MembershipAction =
  | { kind: "AddNode"; node: PeerEntry }
  | { kind: "PromoteNode"; nodeId: string }
  | { kind: "DrainNode"; nodeId: string }
  | { kind: "RemoveNode"; nodeId: string }
  | { kind: "TransferLeadership"; groupId: bigint; fromNodeId: string; targetNodeId: string }
  | { kind: "DeletePod"; podName: string };

export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface Plan {
  /** Server-side applied every time: the full desired state. */
  apply: KubeObject[];
  delete: ObjectRef[];
  /** Replica changes of StatefulSets that are no longer built from the spec (removed regions). */
  scale: ScaleChange[];
  action?: MembershipAction;
  finalizer?: "add" | "remove";
  status: GeoBrokerClusterStatus;
  /** Emitted once the plan's writes and action succeeded. */
  events: PlannedEvent[];
  /** When to look again even if nothing changes (polling a drain, a learner catching up). */
  requeueAfterMs: number;
}

export interface ScaleChange {
  ref: ObjectRef;
  replicas: number;
}

export interface PlanInput {
  cluster: GeoBrokerCluster;
  observed: Observed;
  /** RFC 3339, for condition transition times. */
  now: string;
}

/** A learner this close to the leader's log is promoted. */
export const caughtUpLagEntries = 0n;
export const pollMs = 5_000;
export const resyncMs = 60_000;

interface Step {
  reason: string;
  message: string;
}

interface Decision {
  replicas: Map<string, number>;
  action?: MembershipAction;
  /** Work under way (Progressing=True). */
  step?: Step;
  /** Cannot proceed safely (Degraded=True). */
  blocked?: Step;
  events: PlannedEvent[];
}

export function plan(input: PlanInput): Plan {
  const cluster: GeoBrokerCluster = { ...input.cluster, spec: withDefaults(input.cluster.spec) };
  if (cluster.metadata.deletionTimestamp) return planTeardown(cluster, input);

  const hasFinalizer = cluster.metadata.finalizers?.includes(finalizer) ?? false;
  const problems = [...validateSpec(cluster.spec), ...storageProblems(cluster, input.observed)];
  if (problems.length > 0) return planInvalid(cluster, input, problems, hasFinalizer);

  const { observed } = input;
  const bootstrap = observed.statefulSets.length === 0 && observed.initialPeers === undefined;
  const initialPeers =
    observed.initialPeers ?? (bootstrap ? specPeers(cluster) : existingPeers(cluster, observed));
  const config = brokerConfig(cluster, initialPeers);
  const decision = bootstrap ? decideBootstrap(cluster) : decide(cluster, observed);

  const removed = removedRegions(cluster, observed);
  const certRegions = [...cluster.spec.regions.map((r) => r.name), ...removed];
  const apply: KubeObject[] = [
    configMap(cluster, config),
    clusterService(cluster),
    ...tlsObjects(cluster, certRegions),
  ];
  if (cluster.spec.auth.mode === "basic") apply.push(usersSecret(cluster, observed.users));
  const totalDesired = cluster.spec.regions.reduce((n, r) => n + r.replicas, 0);
  apply.push(podDisruptionBudget(cluster, totalDesired));
  for (const region of cluster.spec.regions) {
    apply.push(peerService(cluster, region.name), regionService(cluster, region));
    apply.push(statefulSet(cluster, { region, replicas: decision.replicas.get(region.name) ?? 0, config }));
  }

  const { deletes, events: deleteEvents } = plannedDeletes(cluster, observed, decision);
  // A removed region's StatefulSet is no longer built (its spec is gone); it is only scaled, node
  // by node, and deleted once empty. Its template stays as it was, so its pods are not rolled.
  const scale: ScaleChange[] = [];
  for (const region of removed) {
    const have = observed.statefulSets.find((s) => s.region === region)?.replicas ?? 0;
    const want = decision.replicas.get(region) ?? have;
    if (want !== have) {
      const name = names.statefulSet(cluster.metadata.name, region);
      scale.push({
        ref: { apiVersion: "apps/v1", kind: "StatefulSet", namespace: cluster.metadata.namespace, name },
        replicas: want,
      });
    }
  }

  const warnings = specWarnings(cluster.spec);
  const events = [
    ...(hasFinalizer
      ? []
      : warnings.map((message) => ({ type: "Warning" as const, reason: "SpecWarning", message }))),
    ...decision.events,
    ...deleteEvents,
  ];
  const status = buildStatus(cluster, input, decision, warnings);
  return {
    apply,
    delete: deletes,
    scale,
    ...(decision.action ? { action: decision.action } : {}),
    ...(hasFinalizer ? {} : { finalizer: "add" as const }),
    status,
    events,
    requeueAfterMs: decision.step || decision.blocked ? pollMs : resyncMs,
  };
}

function storageProblems(cluster: GeoBrokerCluster, observed: Observed): SpecProblem[] {
  const s = cluster.spec.storage;
  const changed = observed.statefulSets.some(
    (sts) => sts.storageSize !== s.size || (sts.storageClassName ?? "") !== (s.storageClassName ?? ""),
  );
  return changed ? [{ path: "spec.storage", message: messages.storageImmutable }] : [];
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

function decideBootstrap(cluster: GeoBrokerCluster): Decision {
  const replicas = new Map(cluster.spec.regions.map((r) => [r.name, r.replicas]));
  const total = cluster.spec.regions.reduce((n, r) => n + r.replicas, 0);
  const message = `creating ${total} node(s) in ${cluster.spec.regions.length} region(s): ${cluster.spec.regions.map((r) => `${r.name}=${r.replicas}`).join(", ")}`;
  return {
    replicas,
    step: { reason: "Creating", message },
    events: [{ type: "Normal", reason: "Creating", message }],
  };
}

function decide(cluster: GeoBrokerCluster, observed: Observed): Decision {
  const c = cluster.metadata.name;
  const current = new Map(observed.statefulSets.map((s) => [s.region, s.replicas]));
  const desired = new Map<string, number>(cluster.spec.regions.map((r) => [r.name, r.replicas]));
  for (const region of removedRegions(cluster, observed)) desired.set(region, 0);
  const regionOrder = [...desired.keys()];
  const replicas = new Map(regionOrder.map((r) => [r, current.get(r) ?? 0]));
  const decision: Decision = { replicas, events: [] };

  const podByName = new Map(observed.pods.map((p) => [p.name, p]));
  // Pods the StatefulSets are meant to run right now, in region order then ordinal.
  const expected = regionOrder.flatMap((r) =>
    Array.from({ length: current.get(r) ?? 0 }, (_, i) => ({
      region: r,
      ordinal: i,
      name: names.pod(c, r, i),
    })),
  );
  const notReady = expected.filter((e) => {
    const p = podByName.get(e.name);
    return !p?.ready || p.terminating;
  });

  const broker = observed.broker;
  if (!broker.reachable) {
    if (notReady.length > 0) {
      decision.step = {
        reason: "WaitingForPods",
        message: `waiting for ${describePods(notReady.map((p) => p.name))}`,
      };
    } else {
      decision.blocked = {
        reason: "BrokerUnreachable",
        message: `every pod is ready but the broker admin API does not answer: ${broker.error}`,
      };
    }
    return decision;
  }
  if (broker.nodes.length === 0) {
    // The admin API answers before the initial voters have elected a metadata leader; adding
    // nodes now would add the initial voters a second time.
    decision.step = {
      reason: "WaitingForPods",
      message: "the broker answers but lists no members yet; the cluster is forming",
    };
    return decision;
  }
  const nodeById = new Map(broker.nodes.map((n) => [n.id, n]));

  // 1. Finish a membership change already under way: the broker remembers it, not the operator.
  const learner = broker.nodes.find((n) => n.state === "learner");
  if (learner) {
    const lag = learnerLag(learner.id, broker.groups);
    if (learner.reachable && lag <= caughtUpLagEntries) {
      decision.action = { kind: "PromoteNode", nodeId: learner.id };
      decision.step = { reason: "ScalingUp", message: `promoting ${learner.id} to voter` };
      decision.events.push({
        type: "Normal",
        reason: "PromotingNode",
        message: `promoting caught-up learner ${learner.id} to voter in every group`,
      });
    } else {
      decision.step = {
        reason: "ScalingUp",
        message: learner.reachable
          ? `learner ${learner.id} is catching up (${lag} entries behind)`
          : `learner ${learner.id} is not reachable yet`,
      };
    }
    return decision;
  }
  const draining = broker.nodes.find((n) => n.state === "draining");
  if (draining) {
    decision.action = { kind: "DrainNode", nodeId: draining.id };
    decision.step = {
      reason: "ScalingDown",
      message: `draining ${draining.id}: moving leaderships and replicas away`,
    };
    return decision;
  }
  const drained = broker.nodes.find((n) => n.state === "drained");
  if (drained) {
    decision.action = { kind: "RemoveNode", nodeId: drained.id };
    decision.step = {
      reason: "ScalingDown",
      message: `removing drained node ${drained.id} from every group`,
    };
    decision.events.push({
      type: "Normal",
      reason: "RemovingNode",
      message: `removing drained node ${drained.id} from every group`,
    });
    return decision;
  }

  // 2. A pod that should be a member and is not: a scale-up step whose pod has just started.
  for (const e of expected) {
    if (e.ordinal >= (desired.get(e.region) ?? 0) || nodeById.has(e.name)) continue;
    const pod = podByName.get(e.name);
    if (!pod?.running || pod.terminating) {
      decision.step = { reason: "ScalingUp", message: `waiting for pod ${e.name} to start` };
      return decision;
    }
    decision.action = { kind: "AddNode", node: peerEntry(cluster, e.region, e.ordinal) };
    decision.step = { reason: "ScalingUp", message: `adding ${e.name} as a learner` };
    decision.events.push({
      type: "Normal",
      reason: "AddingNode",
      message: `adding ${e.name} (region ${e.region}) as a learner`,
    });
    return decision;
  }

  const unsettled = observed.statefulSets.filter((s) => s.settled === false);
  if (unsettled.length > 0) {
    decision.step = {
      reason: "WaitingForStatefulSet",
      message: `waiting for the StatefulSet controller to observe ${unsettled.map((s) => names.statefulSet(c, s.region)).join(", ")}`,
    };
    return decision;
  }

  const unreachable = broker.nodes.filter((n) => !n.reachable && n.state !== "drained");
  const healthy = notReady.length === 0 && unreachable.length === 0;
  const waitForHealth = (what: string): Decision => {
    const who = [...notReady.map((p) => p.name), ...unreachable.map((n) => n.id)];
    decision.step = {
      reason: "WaitingForPods",
      message: `${what} waits for ${describePods([...new Set(who)])}`,
    };
    return decision;
  };

  // 3. Rolling update: one pod at a time, its leaderships moved off first.
  const stsByRegion = new Map(observed.statefulSets.map((s) => [s.region, s]));
  const outdated = expected
    .map((e) => podByName.get(e.name))
    .filter((p): p is ObservedPod => !!p && !p.terminating)
    .filter((p) => {
      const rev = stsByRegion.get(p.region)?.updateRevision;
      return !!rev && p.revision !== rev;
    });
  if (outdated.length > 0) {
    if (!healthy) return waitForHealth("the rolling update");
    const leaderships = (id: string) => broker.groups.filter((g) => g.leader === id);
    const candidate = [...outdated].sort(
      (a, b) =>
        leaderships(a.name).length - leaderships(b.name).length ||
        regionOrder.indexOf(a.region) - regionOrder.indexOf(b.region) ||
        b.ordinal - a.ordinal,
    )[0]!;
    const led = leaderships(candidate.name);
    const stale = new Set(outdated.map((p) => p.name));
    for (const group of led) {
      const target = transferTarget(group.members, candidate, nodeById, stale);
      if (!target) continue;
      decision.action = {
        kind: "TransferLeadership",
        groupId: group.id,
        fromNodeId: candidate.name,
        targetNodeId: target,
      };
      decision.step = {
        reason: "RollingUpdate",
        message: `moving leadership of group ${group.id} (${group.topic}) from ${candidate.name} to ${target} before restarting it`,
      };
      decision.events.push({
        type: "Normal",
        reason: "TransferringLeadership",
        message: decision.step.message,
      });
      return decision;
    }
    if (led.length > 0) {
      decision.blocked = {
        reason: "NoLeadershipTarget",
        message: `${candidate.name} leads ${led.length} group(s) and no other reachable voter can take them; not restarting it`,
      };
      return decision;
    }
    decision.action = { kind: "DeletePod", podName: candidate.name };
    decision.step = {
      reason: "RollingUpdate",
      message: `restarting ${candidate.name} with the new template (${outdated.length} pod(s) left)`,
    };
    decision.events.push({ type: "Normal", reason: "RestartingPod", message: decision.step.message });
    return decision;
  }

  // 4. Scale up: one more pod in the first region that wants more.
  for (const region of regionOrder) {
    const have = current.get(region) ?? 0;
    const want = desired.get(region) ?? 0;
    if (have >= want) continue;
    if (!healthy) return waitForHealth(`scaling up ${region}`);
    replicas.set(region, have + 1);
    const pod = names.pod(c, region, have);
    decision.step = { reason: "ScalingUp", message: `starting ${pod} (${region}: ${have + 1}/${want})` };
    decision.events.push({
      type: "Normal",
      reason: "ScalingUp",
      message: `scaling ${names.statefulSet(c, region)} to ${have + 1} replicas for ${pod}`,
    });
    return decision;
  }

  // 5. Scale down: the highest ordinal leaves the cluster before its pod goes away.
  for (const region of regionOrder) {
    const have = current.get(region) ?? 0;
    const want = desired.get(region) ?? 0;
    if (have <= want) continue;
    const victim = names.pod(c, region, have - 1);
    const node = nodeById.get(victim);
    if (node) {
      const unsafe = quorumRisk(broker.nodes, victim);
      if (unsafe) {
        decision.blocked = { reason: "QuorumAtRisk", message: `not removing ${victim}: ${unsafe}` };
        decision.events.push({ type: "Warning", reason: "QuorumAtRisk", message: decision.blocked.message });
        return decision;
      }
      if (notReady.some((p) => p.name !== victim)) return waitForHealth(`removing ${victim}`);
      decision.action = { kind: "DrainNode", nodeId: victim };
      decision.step = {
        reason: "ScalingDown",
        message: `draining ${victim} (${region}: ${have} -> ${want})`,
      };
      decision.events.push({
        type: "Normal",
        reason: "DrainingNode",
        message: `draining ${victim}: moving its leaderships and replicas to other nodes`,
      });
      return decision;
    }
    replicas.set(region, have - 1);
    decision.step = {
      reason: "ScalingDown",
      message: `stopping ${victim}, which left the cluster (${region}: ${have - 1}/${want})`,
    };
    decision.events.push({
      type: "Normal",
      reason: "ScalingDown",
      message: `scaling ${names.statefulSet(c, region)} to ${have - 1} replicas; ${victim} is no longer a member`,
    });
    return decision;
  }

  if (notReady.length > 0) {
    decision.step = {
      reason: "WaitingForPods",
      message: `waiting for ${describePods(notReady.map((p) => p.name))} to be ready`,
    };
  }
  return decision;
}

/** The largest lag of a learner over the groups where it is a learner. */
function learnerLag(
  nodeId: string,
  groups: { members: { nodeId: string; role: string; lagEntries: bigint }[] }[],
): bigint {
  let lag = 0n;
  for (const g of groups) {
    for (const m of g.members)
      if (m.nodeId === nodeId && m.role === "learner" && m.lagEntries > lag) lag = m.lagEntries;
  }
  return lag;
}

function transferTarget(
  members: { nodeId: string; role: string }[],
  from: ObservedPod,
  nodes: Map<string, BrokerNode>,
  stale: Set<string>,
): string | undefined {
  const options = members
    .filter((m) => m.role === "voter" && m.nodeId !== from.name && nodes.get(m.nodeId)?.reachable)
    .map((m) => ({ id: m.nodeId, region: nodes.get(m.nodeId)?.region }));
  // Prefer a node already on the new version (it will not move again), then the same region.
  options.sort(
    (a, b) =>
      Number(stale.has(a.id)) - Number(stale.has(b.id)) ||
      Number(a.region !== from.region) - Number(b.region !== from.region) ||
      (a.id < b.id ? -1 : 1),
  );
  return options[0]?.id;
}

/** Why removing `victim` could cost a majority, or undefined when it is safe. */
export function quorumRisk(nodes: BrokerNode[], victim: string): string | undefined {
  const voters = nodes.filter((n) => n.state === "voter" || n.state === "draining");
  const isVoter = voters.some((n) => n.id === victim);
  const remaining = voters.filter((n) => n.id !== victim);
  if (isVoter && remaining.length === 0) return "it is the last voter";
  const down = remaining.filter((n) => !n.reachable);
  const majority = Math.floor(remaining.length / 2) + 1;
  if (remaining.length - down.length < majority) {
    return `${down.length} of the ${remaining.length} remaining voters are unreachable (${down.map((n) => n.id).join(", ")}); a majority of ${majority} would not be left`;
  }
  if (down.length > 0) {
    return `wait until ${down.map((n) => n.id).join(", ")} ${down.length === 1 ? "is" : "are"} reachable again before removing a node`;
  }
  return undefined;
}

function plannedDeletes(cluster: GeoBrokerCluster, observed: Observed, decision: Decision) {
  const c = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const deletes: ObjectRef[] = [];
  const events: PlannedEvent[] = [];
  const podOrdinals = new Set(observed.pods.map((p) => `${p.region}/${p.ordinal}`));
  const current = new Map(observed.statefulSets.map((s) => [s.region, s.replicas]));
  for (const region of removedRegions(cluster, observed)) {
    const emptied = (current.get(region) ?? 0) === 0 && !observed.pods.some((p) => p.region === region);
    if (!emptied) continue;
    deletes.push(
      { apiVersion: "apps/v1", kind: "StatefulSet", namespace: ns, name: names.statefulSet(c, region) },
      { apiVersion: "v1", kind: "Service", namespace: ns, name: names.peerService(c, region) },
      { apiVersion: "v1", kind: "Service", namespace: ns, name: names.regionService(c, region) },
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

function planInvalid(
  cluster: GeoBrokerCluster,
  input: PlanInput,
  problems: SpecProblem[],
  hasFinalizer: boolean,
): Plan {
  const message = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  const decision: Decision = {
    replicas: new Map(),
    blocked: { reason: "InvalidSpec", message: `the spec is not applied: ${message}` },
    events: [{ type: "Warning", reason: "InvalidSpec", message }],
  };
  return {
    apply: [],
    delete: [],
    scale: [],
    ...(hasFinalizer ? {} : { finalizer: "add" as const }),
    status: buildStatus(cluster, input, decision, []),
    events: decision.events,
    requeueAfterMs: resyncMs,
  };
}

/** Ordered teardown: brokers stop before their volumes go; the finalizer is released last. */
function planTeardown(cluster: GeoBrokerCluster, input: PlanInput): Plan {
  const { observed } = input;
  const ns = cluster.metadata.namespace;
  const base = { apply: [], scale: [], status: {}, requeueAfterMs: pollMs };
  if (!cluster.metadata.finalizers?.includes(finalizer)) return { ...base, delete: [], events: [] };
  const stsRefs: ObjectRef[] = observed.statefulSets.map((s) => ({
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    namespace: ns,
    name: names.statefulSet(cluster.metadata.name, s.region),
  }));
  if (stsRefs.length > 0 || observed.pods.length > 0) {
    return {
      ...base,
      delete: stsRefs,
      events:
        stsRefs.length > 0
          ? [
              {
                type: "Normal",
                reason: "TearingDown",
                message: `stopping ${observed.pods.length} broker pod(s) before releasing the cluster`,
              },
            ]
          : [],
    };
  }
  if (cluster.spec.storage?.reclaimPolicy === "Delete" && observed.pvcs.length > 0) {
    return {
      ...base,
      delete: observed.pvcs.map((p) => ({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        namespace: ns,
        name: p.name,
      })),
      events: [
        {
          type: "Normal",
          reason: "DeletingVolumes",
          message: `deleting ${observed.pvcs.length} volume claim(s) (reclaimPolicy: Delete)`,
        },
      ],
    };
  }
  return { ...base, delete: [], finalizer: "remove", events: [] };
}

function describePods(names: string[]): string {
  if (names.length <= 3) return names.join(", ");
  return `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
}

function buildStatus(
  cluster: GeoBrokerCluster,
  input: PlanInput,
  decision: Decision,
  warnings: string[],
): GeoBrokerClusterStatus {
  const { observed } = input;
  const c = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const gen = cluster.metadata.generation;
  const prev = cluster.status?.conditions;
  const stsByRegion = new Map(observed.statefulSets.map((s) => [s.region, s]));
  const regionNames = [...new Set([...cluster.spec.regions.map((r) => r.name), ...stsByRegion.keys()])];
  const regions: RegionStatus[] = regionNames.map((name) => {
    const sts = stsByRegion.get(name);
    return {
      name,
      desiredReplicas: cluster.spec.regions.find((r) => r.name === name)?.replicas ?? 0,
      replicas: sts?.replicas ?? 0,
      readyReplicas: sts?.readyReplicas ?? 0,
      updatedReplicas: sts?.updatedReplicas ?? 0,
    };
  });
  const broker = observed.broker;
  const members: MemberStatus[] = broker.reachable
    ? broker.nodes.map((n) => ({ nodeId: n.id, region: n.region, state: n.state, reachable: n.reachable }))
    : [];
  const leader = broker.reachable ? broker.groups.find((g) => g.topic === "metadata")?.leader : undefined;
  const ready = regions.reduce((n, r) => n + r.readyReplicas, 0);
  const desiredTotal = regions.reduce((n, r) => n + r.desiredReplicas, 0);
  const unreachable = members.filter((m) => !m.reachable && m.state !== "drained");

  const converged =
    !decision.step &&
    !decision.blocked &&
    broker.reachable &&
    unreachable.length === 0 &&
    regions.every((r) => r.replicas === r.desiredReplicas && r.readyReplicas === r.desiredReplicas) &&
    members.every((m) => m.state === "voter");
  const degraded = decision.blocked
    ? { status: true, ...decision.blocked }
    : unreachable.length > 0
      ? {
          status: true,
          reason: "NodesUnreachable",
          message: `unreachable: ${unreachable.map((m) => m.nodeId).join(", ")}`,
        }
      : { status: false, reason: "Healthy", message: "no problem detected" };
  const progressing = decision.step
    ? { status: true, ...decision.step }
    : {
        status: false,
        reason: converged ? "Reconciled" : "Idle",
        message: converged ? "the cluster matches the spec" : "no step can be taken now",
      };
  const readyCond = converged
    ? { status: true, reason: "Ready", message: `${ready}/${desiredTotal} nodes ready, all voters` }
    : {
        status: false,
        reason: decision.blocked?.reason ?? decision.step?.reason ?? "NotReady",
        message:
          decision.blocked?.message ?? decision.step?.message ?? `${ready}/${desiredTotal} nodes ready`,
      };

  const endpoint = (svc: string) => `${svc}.${ns}.svc:${ports.client}`;
  return {
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    conditions: [
      condition("Ready", readyCond, gen, prev, input.now),
      condition("Progressing", progressing, gen, prev, input.now),
      condition("Degraded", degraded, gen, prev, input.now),
    ],
    regions,
    members,
    ...(leader ? { leader } : {}),
    regionNames: cluster.spec.regions.map((r) => r.name).join(","),
    readyNodes: `${ready}/${desiredTotal}`,
    endpoints: {
      cluster: endpoint(names.clusterService(c)),
      regions: Object.fromEntries(
        cluster.spec.regions.map((r) => [r.name, endpoint(names.regionService(c, r.name))]),
      ),
    },
    ...(decision.step ? { currentStep: decision.step.message } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
