import type { GeoBrokerCluster } from "../api/types.js";
import type { PeerEntry } from "../model/broker-config.js";
import { names } from "../model/names.js";
import { block, describePods, makeContext, progress } from "./context.js";
import { finishUnderWay, joinStarted, replaceAmnesic } from "./membership.js";
import type { Observed } from "./observed.js";
import { rollingUpdate } from "./rolling.js";
import { scaleDown, scaleUp } from "./scaling.js";
import type { Decision } from "./types.js";
import type { VolumeRecord } from "./volumes.js";

type ReplacedVolumes = VolumeRecord["replaced"];

// The order of steps, one at a time for the whole cluster (quorum spans regions): creation and
// formation, then what the broker reports under way, joins, rolling update, scale up, scale down.

export function decideBootstrap(cluster: GeoBrokerCluster): Decision {
  const replicas = new Map(cluster.spec.regions.map((r) => [r.name, r.replicas]));
  const total = cluster.spec.regions.reduce((n, r) => n + r.replicas, 0);
  const message = `creating ${total} node(s) in ${cluster.spec.regions.length} region(s): ${cluster.spec.regions.map((r) => `${r.name}=${r.replicas}`).join(", ")}`;
  return {
    replicas,
    step: { reason: "Creating", message },
    events: [{ type: "Normal", reason: "Creating", message }],
  };
}

/**
 * Before the initial voters have formed the cluster, every one of them must run, whatever a
 * half-failed first reconcile left behind (a ConfigMap and no StatefulSet, or only some of them):
 * a StatefulSet at 0 would keep its region's initial voters, and with them the majority, away.
 */
export function decideFormation(
  cluster: GeoBrokerCluster,
  observed: Observed,
  initialPeers: PeerEntry[],
): Decision {
  const replicas = new Map(observed.statefulSets.map((s) => [s.region, s.replicas]));
  for (const p of initialPeers) {
    const ordinal = Number(p.id.slice(names.statefulSet(cluster.metadata.name, p.region).length + 1));
    if (Number.isInteger(ordinal)) replicas.set(p.region, Math.max(replicas.get(p.region) ?? 0, ordinal + 1));
  }
  for (const r of cluster.spec.regions) if (!replicas.has(r.name)) replicas.set(r.name, 0);
  return {
    replicas,
    step: {
      reason: "Creating",
      message: `waiting for the ${initialPeers.length} initial voter(s) to form the cluster`,
    },
    events: [],
  };
}

export function decide(
  cluster: GeoBrokerCluster,
  observed: Observed,
  removed: string[],
  replaced: ReplacedVolumes = new Map(),
): Decision {
  const current = new Map(observed.statefulSets.map((s) => [s.region, s.replicas]));
  const desired = new Map<string, number>(cluster.spec.regions.map((r) => [r.name, r.replicas]));
  for (const region of removed) desired.set(region, 0);
  const replicas = new Map([...desired.keys()].map((r) => [r, current.get(r) ?? 0]));
  const decision: Decision = { replicas, events: [] };

  const broker = observed.broker;
  if (!broker.reachable || broker.nodes.length === 0) {
    const ctx = makeContext(cluster, observed, { nodes: [], groups: [] }, decision, desired, replaced);
    if (broker.reachable)
      // The admin API answers before the initial voters have elected a metadata leader; adding
      // nodes now would add the initial voters a second time.
      progress(ctx, "WaitingForPods", "the broker answers but lists no members yet; the cluster is forming");
    else if (ctx.starting.length > 0)
      progress(ctx, "WaitingForPods", `waiting for ${describePods(ctx.starting)}`);
    else
      block(ctx, {
        reason: "BrokerUnreachable",
        message: `every pod is ready but the broker admin API does not answer: ${broker.error}`,
      });
    return decision;
  }
  const ctx = makeContext(cluster, observed, broker, decision, desired, replaced);
  if (replaceAmnesic(ctx) || finishUnderWay(ctx) || joinStarted(ctx)) return decision;
  const unsettled = observed.statefulSets.filter((s) => s.settled === false);
  if (unsettled.length > 0) {
    progress(
      ctx,
      "WaitingForStatefulSet",
      `waiting for the StatefulSet controller to observe ${unsettled.map((s) => names.statefulSet(ctx.c, s.region)).join(", ")}`,
    );
    return decision;
  }
  if (rollingUpdate(ctx) || scaleUp(ctx) || scaleDown(ctx)) return decision;
  if (ctx.starting.length > 0)
    progress(ctx, "WaitingForPods", `waiting for ${describePods(ctx.starting)} to be ready`);
  return decision;
}
