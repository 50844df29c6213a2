import { peerEntry } from "../model/broker-config.js";
import { block, type Ctx, confirmation, progress, wanted } from "./context.js";
import { lagOf, majorityLoss } from "./quorum.js";
import { caughtUpLagEntries, type Outcome } from "./types.js";

// The membership rules: a member that lost its volume, then what the broker reports as under way
// (it, not the operator, remembers a membership change in progress: a learner, a leaving node),
// then pods that started and are not members yet. Each returns undefined when it has nothing to do.

/**
 * A member that came back on a new, empty volume must not count as its old voter (it lost the
 * log it acknowledged): its old entry is drained and removed like a lost node's, without asking
 * for a confirmation (the data is gone already), with quorum checked before the removal. Its pod
 * then joins again as a learner (the join rule) and is promoted once caught up.
 */
export function replaceAmnesic(ctx: Ctx): Outcome | undefined {
  for (const [id, v] of ctx.replaced) {
    const n = ctx.nodeById.get(id);
    if (!n) continue;
    const why = `the volume of ${id} was replaced (claim ${v.was} -> ${v.now})`;
    if (n.state === "voter" || n.state === "draining") {
      return progress("ReplacingNode", `${why}: draining its old entry`, {
        action: { kind: "DrainNode", nodeId: id },
        events:
          n.state === "voter"
            ? [
                {
                  type: "Warning",
                  reason: "VolumeReplaced",
                  message: `${why}: removing its old entry; it rejoins as a new learner`,
                },
              ]
            : [],
      });
    }
    const risk = n.state === "learner" ? undefined : majorityLoss(ctx.nodes, ctx.groups, id, "remove");
    if (risk)
      return block({ reason: "QuorumAtRisk", message: `not removing the old entry of ${id}: ${risk}` }, true);
    return progress("ReplacingNode", `${why}: removing its old entry`, {
      action: { kind: "RemoveNode", nodeId: id },
      events: [{ type: "Normal", reason: "RemovingNode", message: `${why}: removing its old entry` }],
    });
  }
  return undefined;
}

/** A learner is promoted once caught up, removed when unreachable and no longer wanted, else waited for. */
export function finishLearner(ctx: Ctx): Outcome | undefined {
  const learner = ctx.nodes.find((n) => n.state === "learner");
  if (!learner) return undefined;
  if (!learner.reachable && !wanted(ctx, learner.id)) {
    // A learner holds no vote: removing one the spec no longer wants costs no majority.
    return progress("ScalingDown", `removing learner ${learner.id}`, {
      action: { kind: "RemoveNode", nodeId: learner.id },
      events: [
        {
          type: "Normal",
          reason: "RemovingNode",
          message: `removing unreachable learner ${learner.id}, no longer in the spec`,
        },
      ],
    });
  }
  const lag = lagOf(learner.id, ctx.groups, "learner");
  if (learner.reachable && lag <= caughtUpLagEntries) {
    return progress("ScalingUp", `promoting ${learner.id} to voter`, {
      action: { kind: "PromoteNode", nodeId: learner.id },
      events: [
        {
          type: "Normal",
          reason: "PromotingNode",
          message: `promoting caught-up learner ${learner.id} to voter in every group`,
        },
      ],
    });
  }
  return progress(
    "ScalingUp",
    learner.reachable
      ? `learner ${learner.id} is catching up (${lag} entries behind)`
      : `learner ${learner.id} is not reachable yet`,
  );
}

/** A draining or drained node: its drain cancelled when wanted again, else drained, then removed. */
export function finishLeaving(ctx: Ctx): Outcome | undefined {
  const leaving = ctx.nodes.find((n) => n.state === "draining" || n.state === "drained");
  if (!leaving) return undefined;
  if (wanted(ctx, leaving.id)) {
    // The spec wants the node again (the scale-down was reverted): stop moving data off it.
    return progress("ScalingUp", `cancelling the drain of ${leaving.id}`, {
      action: { kind: "CancelDrain", nodeId: leaving.id },
      events: [
        {
          type: "Normal",
          reason: "CancellingDrain",
          message: `${leaving.id} is wanted by the spec again; cancelling its drain`,
        },
      ],
    });
  }
  if (leaving.state === "draining")
    return progress("ScalingDown", `draining ${leaving.id}: moving leaderships and replicas away`, {
      action: { kind: "DrainNode", nodeId: leaving.id },
    });
  // Re-checked right before the removal, whatever the drain found when it started.
  const risk = majorityLoss(ctx.nodes, ctx.groups, leaving.id, "remove");
  if (risk) return block({ reason: "QuorumAtRisk", message: `not removing ${leaving.id}: ${risk}` }, true);
  const confirmed = !leaving.reachable ? confirmation(ctx, leaving.id) : undefined;
  return progress("ScalingDown", `removing drained node ${leaving.id} from every group`, {
    action: { kind: "RemoveNode", nodeId: leaving.id },
    events: [
      {
        type: confirmed ? "Warning" : "Normal",
        reason: "RemovingNode",
        message: `removing drained node ${leaving.id} from every group${confirmed ? ` (unreachable; confirmed by geobroker.io/force-remove: ${confirmed})` : ""}`,
      },
    ],
  });
}

/** A pod that should be a member and is not: a scale-up step whose pod has just started. */
export function joinStarted(ctx: Ctx): Outcome | undefined {
  for (const e of ctx.expected) {
    if (e.ordinal >= (ctx.desired.get(e.region) ?? 0) || ctx.nodeById.has(e.name)) continue;
    const pod = ctx.podByName.get(e.name);
    if (!pod?.running || pod.terminating) return progress("ScalingUp", `waiting for pod ${e.name} to start`);
    return progress("ScalingUp", `adding ${e.name} as a learner`, {
      action: { kind: "AddNode", node: peerEntry(ctx.cluster, e.region, e.ordinal, pod.zone ?? "") },
      events: [
        {
          type: "Normal",
          reason: "AddingNode",
          message: `adding ${e.name} (region ${e.region}) as a learner`,
        },
      ],
    });
  }
  return undefined;
}
