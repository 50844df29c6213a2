import { names } from "../model/names.js";
import { block, type Ctx, type DecideInput, describePods, makeContext, progress } from "./context.js";
import { finishLearner, finishLeaving, joinStarted, replaceAmnesic } from "./membership.js";
import { rollingUpdate } from "./rolling.js";
import { removeRegions, scaleDown, scaleUp } from "./scaling.js";
import type { Decision, Outcome } from "./types.js";
import { recordZones } from "./zones.js";

// The reconcile chain, in the manner of Strimzi's reconcilers: an ordered list of named rules,
// each a pure function of the context with one concern. The rules are asked in order and the
// first one that returns an outcome decides: one step at a time for the whole cluster (quorum
// spans regions). A rule that returns undefined has nothing to do and passes to the next. The
// order is documented in docs/operator.md ("The rule chain") and checked by a test.

export interface Rule {
  /** Named in the Decision (`rule`), the docs and the tests. */
  name: string;
  decide: (ctx: Ctx) => Outcome | undefined;
}

/** Nothing exists yet: every region starts at its spec count, the initial voters together. */
function creation(ctx: Ctx): Outcome | undefined {
  if (!ctx.bootstrap) return undefined;
  const regions = ctx.cluster.spec.regions;
  const total = regions.reduce((n, r) => n + r.replicas, 0);
  const message = `creating ${total} node(s) in ${regions.length} region(s): ${regions.map((r) => `${r.name}=${r.replicas}`).join(", ")}`;
  return progress("Creating", message, {
    replicas: new Map(regions.map((r) => [r.name, r.replicas])),
    events: [{ type: "Normal", reason: "Creating", message }],
  });
}

/**
 * Before the initial voters have formed the cluster, every one of them must run, whatever a
 * half-failed first reconcile left behind (a ConfigMap and no StatefulSet, or only some of them):
 * a StatefulSet at 0 would keep its region's initial voters, and with them the majority, away.
 */
function formation(ctx: Ctx): Outcome | undefined {
  if (ctx.formed) return undefined;
  const replicas = new Map<string, number>();
  for (const p of ctx.initialPeers) {
    const ordinal = Number(p.id.slice(names.statefulSet(ctx.c, p.region).length + 1));
    const have = replicas.get(p.region) ?? ctx.current.get(p.region) ?? 0;
    if (Number.isInteger(ordinal)) replicas.set(p.region, Math.max(have, ordinal + 1));
  }
  return progress(
    "Creating",
    `waiting for the ${ctx.initialPeers.length} initial voter(s) to form the cluster`,
    { replicas },
  );
}

/** Every later rule reads the broker's membership: without it, wait for the pods or say why. */
function membershipListed(ctx: Ctx): Outcome | undefined {
  const broker = ctx.observed.broker;
  if (ctx.listed) return undefined;
  // The admin API answers before the initial voters have elected a metadata leader; adding
  // nodes now would add the initial voters a second time.
  if (broker.reachable)
    return progress("WaitingForPods", "the broker answers but lists no members yet; the cluster is forming");
  if (ctx.starting.length > 0) return progress("WaitingForPods", `waiting for ${describePods(ctx.starting)}`);
  return block({
    reason: "BrokerUnreachable",
    message: `every pod is ready but the broker admin API does not answer: ${broker.error}`,
  });
}

/** A StatefulSet whose last change its controller has not observed yet: its pods say nothing yet. */
function statefulSetsObserved(ctx: Ctx): Outcome | undefined {
  const unsettled = ctx.observed.statefulSets.filter((s) => s.settled === false);
  if (unsettled.length === 0) return undefined;
  return progress(
    "WaitingForStatefulSet",
    `waiting for the StatefulSet controller to observe ${unsettled.map((s) => names.statefulSet(ctx.c, s.region)).join(", ")}`,
  );
}

/** Nothing else to do, but pods still starting: the cluster is not converged yet. */
function podsReady(ctx: Ctx): Outcome | undefined {
  if (ctx.starting.length === 0) return undefined;
  return progress("WaitingForPods", `waiting for ${describePods(ctx.starting)} to be ready`);
}

/** The chain, in the order it is asked. */
export const rules: readonly Rule[] = [
  { name: "creation", decide: creation },
  { name: "formation", decide: formation },
  { name: "membership-listed", decide: membershipListed },
  { name: "replaced-volume", decide: replaceAmnesic },
  { name: "learner", decide: finishLearner },
  { name: "leaving-node", decide: finishLeaving },
  { name: "join", decide: joinStarted },
  { name: "statefulsets-observed", decide: statefulSetsObserved },
  { name: "rolling-update", decide: rollingUpdate },
  { name: "scale-up", decide: scaleUp },
  { name: "scale-down", decide: scaleDown },
  { name: "region-removal", decide: removeRegions },
  { name: "pods-ready", decide: podsReady },
  { name: "zones", decide: recordZones },
];

/**
 * The first rule with an outcome decides. Every region's StatefulSet keeps its current count but
 * for the ones the outcome changes; a removed region counts among them (it shrinks to 0).
 */
export function decide(input: DecideInput, chain: readonly Rule[] = rules): Decision {
  const ctx = makeContext(input);
  const replicas = new Map([...ctx.desired.keys()].map((r) => [r, ctx.current.get(r) ?? 0]));
  for (const rule of chain) {
    const outcome = rule.decide(ctx);
    if (!outcome) continue;
    const { replicas: changes, ...rest } = outcome;
    for (const [region, n] of changes ?? []) replicas.set(region, n);
    return { ...rest, replicas, rule: rule.name };
  }
  return { replicas, events: [] };
}
