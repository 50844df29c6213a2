import { block, type Ctx, describePods, progress } from "./context.js";
import type { BrokerNode, ObservedPod } from "./observed.js";
import { lagOf, majorityLoss } from "./quorum.js";
import { type Outcome, rollCatchUpLagEntries } from "./types.js";

// The rolling-update rule: a rolling update, one pod at a time: the pod restarted last must be ready and caught up,
// every group must have a leader, the restart must keep every group's majority, and the pod's
// leaderships move off it first. Lost pods are skipped: they get the new template when they return.

export function rollingUpdate(ctx: Ctx): Outcome | undefined {
  const stsByRegion = new Map(ctx.observed.statefulSets.map((s) => [s.region, s]));
  const current = (p: ObservedPod) => {
    const rev = stsByRegion.get(p.region)?.updateRevision;
    return !rev || p.revision === rev;
  };
  const pods = ctx.expected.map((e) => ctx.podByName.get(e.name)).filter((p): p is ObservedPod => !!p);
  const outdated = pods.filter((p) => !p.terminating && (!current(p) || p.manualRoll));
  const runnable = outdated.filter((p) => !ctx.lost.has(p.name));
  if (runnable.length === 0) return undefined;

  // The pod restarted before (it has the new revision) must be back, not merely started; a
  // restarting broker does not answer either, so "lost" does not excuse a pod already restarted.
  const back = pods.filter((p) => current(p) && !p.manualRoll && (!p.ready || p.terminating));
  const waiting = [...new Set([...ctx.starting, ...back.map((p) => p.name)])];
  if (waiting.length > 0)
    return progress("WaitingForPods", `the rolling update waits for ${describePods(waiting)}`);
  for (const p of pods.filter((x) => current(x) && !x.manualRoll)) {
    const node = ctx.nodeById.get(p.name);
    if (!node?.reachable) continue;
    const lag = lagOf(p.name, ctx.groups, "any");
    if (lag > rollCatchUpLagEntries)
      return progress(
        "RollingUpdate",
        `waiting for ${p.name} to catch up (${lag} entries behind) before the next restart`,
      );
  }
  const leaderless = ctx.groups.filter((g) => !g.leader);
  if (leaderless.length > 0) {
    const g = leaderless[0]!;
    return progress(
      "RollingUpdate",
      `waiting: group ${g.id} (${g.topic}) has no leader${leaderless.length > 1 ? ` (and ${leaderless.length - 1} more)` : ""}`,
    );
  }

  const leaderships = (id: string) => ctx.groups.filter((g) => g.leader === id);
  const candidate = [...runnable].sort(
    (a, b) =>
      leaderships(a.name).length - leaderships(b.name).length ||
      ctx.regionOrder.indexOf(a.region) - ctx.regionOrder.indexOf(b.region) ||
      b.ordinal - a.ordinal,
  )[0]!;
  const risk = majorityLoss(ctx.nodes, ctx.groups, candidate.name, "stop");
  if (risk)
    return block({ reason: "QuorumAtRisk", message: `not restarting ${candidate.name}: ${risk}` }, true);

  const led = leaderships(candidate.name);
  const stale = new Set(outdated.map((p) => p.name));
  for (const group of led) {
    const target = transferTarget(group.members, candidate, ctx.nodeById, stale);
    if (!target) continue;
    const message = `moving leadership of group ${group.id} (${group.topic}) from ${candidate.name} to ${target} before restarting it`;
    return progress("RollingUpdate", message, {
      action: {
        kind: "TransferLeadership",
        groupId: group.id,
        fromNodeId: candidate.name,
        targetNodeId: target,
      },
      events: [{ type: "Normal", reason: "TransferringLeadership", message }],
    });
  }
  if (led.length > 0)
    return block({
      reason: "NoLeadershipTarget",
      message: `${candidate.name} leads ${led.length} group(s) and no other reachable voter can take them; not restarting it`,
    });
  const skipped = outdated.length - runnable.length;
  const message = `restarting ${candidate.name} with the new template (${runnable.length} pod(s) left${skipped > 0 ? `; ${skipped} lost pod(s) skipped` : ""})`;
  return progress("RollingUpdate", message, {
    action: { kind: "DeletePod", podName: candidate.name },
    events: [{ type: "Normal", reason: "RestartingPod", message }],
  });
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
