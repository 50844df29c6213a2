import type { GeoBrokerCluster } from "../api/types.js";
import { names, parsePodName } from "../model/names.js";
import type { BrokerGroup, BrokerNode, Observed, ObservedPod } from "./observed.js";
import type { Decision, Step } from "./types.js";

// What every step of a reconcile looks at, computed once: the counts, the pods, the members, and
// which of them are lost (the broker cannot reach them and their pod does not run).

export const forceRemoveAnnotation = "geobroker.io/force-remove";

export interface ExpectedPod {
  region: string;
  ordinal: number;
  name: string;
}

export interface Ctx {
  cluster: GeoBrokerCluster;
  c: string;
  observed: Observed;
  nodes: BrokerNode[];
  groups: BrokerGroup[];
  topics?: { name: string; replicationFactor: number }[];
  regionOrder: string[];
  current: Map<string, number>;
  desired: Map<string, number>;
  podByName: Map<string, ObservedPod>;
  nodeById: Map<string, BrokerNode>;
  /** Pods the StatefulSets are meant to run right now, in region order then ordinal. */
  expected: ExpectedPod[];
  /** Expected pods that are not ready, lost ones excepted: a step waits for these. */
  starting: string[];
  /** Members the broker cannot reach whose pod is not running: gone until someone brings them back. */
  lost: Set<string>;
  /** Members whose volume claim was replaced since they joined (they lost their data). */
  replaced: Map<string, { was: string; now: string }>;
  decision: Decision;
}

export function makeContext(
  cluster: GeoBrokerCluster,
  observed: Observed,
  broker: {
    nodes: BrokerNode[];
    groups: BrokerGroup[];
    topics?: { name: string; replicationFactor: number }[];
  },
  decision: Decision,
  desired: Map<string, number>,
  replaced: Map<string, { was: string; now: string }> = new Map(),
): Ctx {
  const c = cluster.metadata.name;
  const current = new Map(observed.statefulSets.map((s) => [s.region, s.replicas]));
  const regionOrder = [...desired.keys()];
  const podByName = new Map(observed.pods.map((p) => [p.name, p]));
  const nodeById = new Map(broker.nodes.map((n) => [n.id, n]));
  const expected = regionOrder.flatMap((r) =>
    Array.from({ length: current.get(r) ?? 0 }, (_, i) => ({
      region: r,
      ordinal: i,
      name: names.pod(c, r, i),
    })),
  );
  const lost = new Set(
    broker.nodes.filter((n) => !n.reachable && !podByName.get(n.id)?.ready).map((n) => n.id),
  );
  const starting = expected
    .filter((e) => {
      const p = podByName.get(e.name);
      return (!p?.ready || p.terminating) && !lost.has(e.name);
    })
    .map((e) => e.name);
  return {
    cluster,
    c,
    observed,
    nodes: broker.nodes,
    groups: broker.groups,
    ...(broker.topics ? { topics: broker.topics } : {}),
    regionOrder,
    current,
    desired,
    podByName,
    nodeById,
    expected,
    starting,
    lost,
    replaced,
    decision,
  };
}

/** Whether the spec (still) wants `nodeId`: its region is in the spec and its ordinal within the count. */
export function wanted(ctx: Ctx, nodeId: string): boolean {
  const region = ctx.nodeById.get(nodeId)?.region;
  if (!region || !ctx.cluster.spec.regions.some((r) => r.name === region)) return false;
  const ordinal = parsePodName(ctx.c, region, nodeId);
  return ordinal !== undefined && ordinal < (ctx.desired.get(region) ?? 0);
}

/** The token of the force-remove annotation that confirms removing `nodeId`, if any. */
export function confirmation(ctx: Ctx, nodeId: string): string | undefined {
  const value = ctx.cluster.metadata.annotations?.[forceRemoveAnnotation] ?? "";
  const region = ctx.nodeById.get(nodeId)?.region;
  return value
    .split(",")
    .map((t) => t.trim())
    .find((t) => t !== "" && (t === nodeId || t === region));
}

export function describePods(list: string[]): string {
  if (list.length <= 3) return list.join(", ");
  return `${list.slice(0, 3).join(", ")} and ${list.length - 3} more`;
}

export function progress(ctx: Ctx, reason: string, message: string): true {
  ctx.decision.step = { reason, message };
  return true;
}

export function block(ctx: Ctx, blocked: Step, warn = false): true {
  ctx.decision.blocked = blocked;
  if (warn) ctx.decision.events.push({ type: "Warning", ...blocked });
  return true;
}

/** A step that must wait for starting pods says which. */
export function waitForStarting(ctx: Ctx, what: string): true {
  return progress(ctx, "WaitingForPods", `${what} waits for ${describePods(ctx.starting)}`);
}
