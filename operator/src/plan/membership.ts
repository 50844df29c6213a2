import { peerEntry } from "../model/broker-config.js";
import { block, type Ctx, confirmation, progress, wanted } from "./context.js";
import { lagOf, majorityLoss } from "./quorum.js";
import { caughtUpLagEntries } from "./types.js";

// Steps 1 and 2: finish what the broker reports as under way (it, not the operator, remembers a
// membership change in progress), then join pods that started and are not members yet.

/**
 * A member that came back on a new, empty volume must not count as its old voter (it lost the
 * log it acknowledged): its old entry is drained and removed like a lost node's, without asking
 * for a confirmation (the data is gone already), with quorum checked before the removal. Its pod
 * then joins again as a learner (step 2) and is promoted once caught up.
 */
export function replaceAmnesic(ctx: Ctx): boolean {
  const d = ctx.decision;
  for (const [id, v] of ctx.replaced) {
    const n = ctx.nodeById.get(id);
    if (!n) continue;
    const why = `the volume of ${id} was replaced (claim ${v.was} -> ${v.now})`;
    if (n.state === "voter" || n.state === "draining") {
      d.action = { kind: "DrainNode", nodeId: id };
      if (n.state === "voter")
        d.events.push({
          type: "Warning",
          reason: "VolumeReplaced",
          message: `${why}: removing its old entry; it rejoins as a new learner`,
        });
      return progress(ctx, "ReplacingNode", `${why}: draining its old entry`);
    }
    const risk = n.state === "learner" ? undefined : majorityLoss(ctx.nodes, ctx.groups, id, "remove");
    if (risk)
      return block(
        ctx,
        { reason: "QuorumAtRisk", message: `not removing the old entry of ${id}: ${risk}` },
        true,
      );
    d.action = { kind: "RemoveNode", nodeId: id };
    d.events.push({ type: "Normal", reason: "RemovingNode", message: `${why}: removing its old entry` });
    return progress(ctx, "ReplacingNode", `${why}: removing its old entry`);
  }
  return false;
}

export function finishUnderWay(ctx: Ctx): boolean {
  const d = ctx.decision;
  const learner = ctx.nodes.find((n) => n.state === "learner");
  if (learner) {
    if (!learner.reachable && !wanted(ctx, learner.id)) {
      // A learner holds no vote: removing one the spec no longer wants costs no majority.
      d.action = { kind: "RemoveNode", nodeId: learner.id };
      d.events.push({
        type: "Normal",
        reason: "RemovingNode",
        message: `removing unreachable learner ${learner.id}, no longer in the spec`,
      });
      return progress(ctx, "ScalingDown", `removing learner ${learner.id}`);
    }
    const lag = lagOf(learner.id, ctx.groups, "learner");
    if (learner.reachable && lag <= caughtUpLagEntries) {
      d.action = { kind: "PromoteNode", nodeId: learner.id };
      d.events.push({
        type: "Normal",
        reason: "PromotingNode",
        message: `promoting caught-up learner ${learner.id} to voter in every group`,
      });
      return progress(ctx, "ScalingUp", `promoting ${learner.id} to voter`);
    }
    return progress(
      ctx,
      "ScalingUp",
      learner.reachable
        ? `learner ${learner.id} is catching up (${lag} entries behind)`
        : `learner ${learner.id} is not reachable yet`,
    );
  }
  const leaving = ctx.nodes.find((n) => n.state === "draining" || n.state === "drained");
  if (!leaving) return false;
  if (wanted(ctx, leaving.id)) {
    // The spec wants the node again (the scale-down was reverted): stop moving data off it.
    d.action = { kind: "CancelDrain", nodeId: leaving.id };
    d.events.push({
      type: "Normal",
      reason: "CancellingDrain",
      message: `${leaving.id} is wanted by the spec again; cancelling its drain`,
    });
    return progress(ctx, "ScalingUp", `cancelling the drain of ${leaving.id}`);
  }
  if (leaving.state === "draining") {
    d.action = { kind: "DrainNode", nodeId: leaving.id };
    return progress(ctx, "ScalingDown", `draining ${leaving.id}: moving leaderships and replicas away`);
  }
  // Re-checked right before the removal, whatever the drain found when it started.
  const risk = majorityLoss(ctx.nodes, ctx.groups, leaving.id, "remove");
  if (risk)
    return block(ctx, { reason: "QuorumAtRisk", message: `not removing ${leaving.id}: ${risk}` }, true);
  d.action = { kind: "RemoveNode", nodeId: leaving.id };
  const confirmed = !leaving.reachable ? confirmation(ctx, leaving.id) : undefined;
  d.events.push({
    type: confirmed ? "Warning" : "Normal",
    reason: "RemovingNode",
    message: `removing drained node ${leaving.id} from every group${confirmed ? ` (unreachable; confirmed by geobroker.io/force-remove: ${confirmed})` : ""}`,
  });
  return progress(ctx, "ScalingDown", `removing drained node ${leaving.id} from every group`);
}

/** A pod that should be a member and is not: a scale-up step whose pod has just started. */
export function joinStarted(ctx: Ctx): boolean {
  for (const e of ctx.expected) {
    if (e.ordinal >= (ctx.desired.get(e.region) ?? 0) || ctx.nodeById.has(e.name)) continue;
    const pod = ctx.podByName.get(e.name);
    if (!pod?.running || pod.terminating)
      return progress(ctx, "ScalingUp", `waiting for pod ${e.name} to start`);
    ctx.decision.action = { kind: "AddNode", node: peerEntry(ctx.cluster, e.region, e.ordinal) };
    ctx.decision.events.push({
      type: "Normal",
      reason: "AddingNode",
      message: `adding ${e.name} (region ${e.region}) as a learner`,
    });
    return progress(ctx, "ScalingUp", `adding ${e.name} as a learner`);
  }
  return false;
}
