import type { GeoBrokerCluster, GeoBrokerClusterStatus, MemberStatus, RegionStatus } from "../api/types.js";
import { brokerEndpoints } from "../model/external.js";
import { names, ports } from "../model/names.js";
import { condition } from "./conditions.js";
import type { Decision, PlanInput } from "./types.js";

// The status a reconcile writes: conditions from the decision, counts from the StatefulSets,
// members from the broker. Written for humans and `kubectl get`; never read back by the planner
// except for condition transition times and not repeating an unchanged warning.

export function buildStatus(
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

  const brokers = brokerEndpoints(cluster);
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
      ...externalEndpoints(cluster),
      ...(brokers ? { brokers } : {}),
    },
    ...(decision.step ? { currentStep: decision.step.message } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** What clients outside Kubernetes dial, per region with an external listener. */
function externalEndpoints(cluster: GeoBrokerCluster): { external?: Record<string, string[]> } {
  const withListener = cluster.spec.regions.filter((r) => r.external);
  if (withListener.length === 0) return {};
  return {
    external: Object.fromEntries(
      withListener.map((r) => [
        r.name,
        r.external!.hosts.map((h) => `${h}:${r.external!.port ?? ports.client}`),
      ]),
    ),
  };
}
