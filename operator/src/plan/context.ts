import type { GeoBrokerCluster } from "../api/types.js";
import type { PeerEntry } from "../model/broker-config.js";
import { names, parsePodName } from "../model/names.js";
import type { BrokerGroup, BrokerNode, Observed, ObservedPod } from "./observed.js";
import type { MembershipAction, Outcome, PlannedEvent, Step } from "./types.js";

// What every rule of a reconcile looks at, computed once: the counts, the pods, the members, and
// which of them are lost (the broker cannot reach them and their pod does not run). Rules read it
// and return an Outcome; none of them writes to it.

export const forceRemoveAnnotation = "geobroker.io/force-remove";

/** What the planner hands the rule chain, besides the spec and what was observed. */
export interface DecideInput {
  cluster: GeoBrokerCluster;
  observed: Observed;
  /** Regions with a StatefulSet and no longer in the spec: their count is 0. */
  removed: string[];
  /** Members whose volume claim was replaced since they joined. */
  replaced?: Map<string, { was: string; now: string }>;
  /** The initial voters: frozen in the ConfigMap, or what creation starts with. */
  initialPeers: PeerEntry[];
  /** Nothing exists yet: no StatefulSet and no ConfigMap. */
  bootstrap: boolean;
  /** The initial voters formed the cluster (recorded, or the broker lists members). */
  formed: boolean;
}

export interface ExpectedPod {
  region: string;
  ordinal: number;
  name: string;
}

export interface Ctx {
  cluster: GeoBrokerCluster;
  c: string;
  observed: Observed;
  initialPeers: PeerEntry[];
  bootstrap: boolean;
  formed: boolean;
  /** The broker answers and lists its members; without them `nodes` and `groups` are empty. */
  listed: boolean;
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
}

export function makeContext(input: DecideInput): Ctx {
  const { cluster, observed } = input;
  const c = cluster.metadata.name;
  const desired = new Map<string, number>(cluster.spec.regions.map((r) => [r.name, r.replicas]));
  for (const region of input.removed) desired.set(region, 0);
  const b = observed.broker;
  const listed = b.reachable && b.nodes.length > 0;
  const broker = listed ? b : { nodes: [], groups: [] };
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
    initialPeers: input.initialPeers,
    bootstrap: input.bootstrap,
    formed: input.formed,
    listed,
    nodes: broker.nodes,
    groups: broker.groups,
    ...("topics" in broker && broker.topics ? { topics: broker.topics } : {}),
    regionOrder,
    current,
    desired,
    podByName,
    nodeById,
    expected,
    starting,
    lost,
    replaced: input.replaced ?? new Map(),
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

/** What goes with a rule's step: at most one action, its events, the StatefulSet counts it changes. */
export interface Effects {
  action?: MembershipAction;
  events?: PlannedEvent[];
  replicas?: Map<string, number>;
}

/** A rule's outcome with work under way (Progressing=True). */
export function progress(reason: string, message: string, effects: Effects = {}): Outcome {
  return { ...effects, step: { reason, message }, events: effects.events ?? [] };
}

/** A rule's outcome that cannot proceed safely (Degraded=True), with a Warning Event when `warn`. */
export function block(blocked: Step, warn = false): Outcome {
  return { blocked, events: warn ? [{ type: "Warning", ...blocked }] : [] };
}

/** A step that must wait for starting pods says which. */
export function waitForStarting(starting: string[], what: string): Outcome {
  return progress("WaitingForPods", `${what} waits for ${describePods(starting)}`);
}
