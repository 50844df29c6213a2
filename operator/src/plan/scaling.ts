import { names } from "../model/names.js";
import {
  block,
  type Ctx,
  confirmation,
  forceRemoveAnnotation,
  progress,
  waitForStarting,
} from "./context.js";
import { hasMajority, majority, majorityLoss, metadataVoters } from "./quorum.js";
import type { Outcome } from "./types.js";

// The scaling rules: one more pod in the first region short of its count; otherwise the highest
// ordinal of a region over its count leaves (drained, removed, then its pod stops), the spec's
// regions before the removed ones. Unreachable members do not stop either as long as the step
// keeps every majority; a lost node leaves only with the force-remove annotation naming it or its
// region.

export function scaleUp(ctx: Ctx): Outcome | undefined {
  for (const region of ctx.regionOrder) {
    const have = ctx.current.get(region) ?? 0;
    const want = ctx.desired.get(region) ?? 0;
    if (have >= want) continue;
    if (ctx.starting.length > 0) return waitForStarting(ctx.starting, `scaling up ${region}`);
    if (!hasMajority(ctx.nodes)) return noMajority(ctx, `scaling up ${region}`);
    const pod = names.pod(ctx.c, region, have);
    return progress("ScalingUp", `starting ${pod} (${region}: ${have + 1}/${want})`, {
      replicas: new Map([[region, have + 1]]),
      events: [
        {
          type: "Normal",
          reason: "ScalingUp",
          message: `scaling ${names.statefulSet(ctx.c, region)} to ${have + 1} replicas for ${pod}`,
        },
      ],
    });
  }
  return undefined;
}

/** A region of the spec over its count gives up its highest ordinal. */
export function scaleDown(ctx: Ctx): Outcome | undefined {
  return shrinkFirst(ctx, (region) => inSpec(ctx, region));
}

/** A region taken out of the spec (its count is 0) gives up its nodes the same way, one by one. */
export function removeRegions(ctx: Ctx): Outcome | undefined {
  return shrinkFirst(ctx, (region) => !inSpec(ctx, region));
}

function inSpec(ctx: Ctx, region: string): boolean {
  return ctx.cluster.spec.regions.some((r) => r.name === region);
}

function shrinkFirst(ctx: Ctx, which: (region: string) => boolean): Outcome | undefined {
  for (const region of ctx.regionOrder) {
    const have = ctx.current.get(region) ?? 0;
    const want = ctx.desired.get(region) ?? 0;
    if (have > want && which(region)) return shrink(ctx, region, have, want);
  }
  return undefined;
}

function shrink(ctx: Ctx, region: string, have: number, want: number): Outcome {
  const victim = names.pod(ctx.c, region, have - 1);
  const node = ctx.nodeById.get(victim);
  if (!node) {
    return progress(
      "ScalingDown",
      `stopping ${victim}, which left the cluster (${region}: ${have - 1}/${want})`,
      {
        replicas: new Map([[region, have - 1]]),
        events: [
          {
            type: "Normal",
            reason: "ScalingDown",
            message: `scaling ${names.statefulSet(ctx.c, region)} to ${have - 1} replicas; ${victim} is no longer a member`,
          },
        ],
      },
    );
  }
  const short = replicationShortfall(ctx, victim);
  if (short) return block({ reason: "ReplicationFactor", message: `not removing ${victim}: ${short}` }, true);
  const confirmed = confirmation(ctx, victim);
  if (!node.reachable && !confirmed) {
    return block(
      {
        reason: "ConfirmationRequired",
        message: `${victim} is unreachable: removing it gives up whatever only it holds. To remove it anyway, annotate the cluster with ${forceRemoveAnnotation}: ${region} (the region) or ${forceRemoveAnnotation}: ${victim} (the node)`,
      },
      true,
    );
  }
  const risk = majorityLoss(ctx.nodes, ctx.groups, victim, "remove");
  if (risk) return block({ reason: "QuorumAtRisk", message: `not removing ${victim}: ${risk}` }, true);
  const others = ctx.starting.filter((p) => p !== victim);
  if (others.length > 0) return waitForStarting(others, `removing ${victim}`);
  return progress("ScalingDown", `draining ${victim} (${region}: ${have} -> ${want})`, {
    action: { kind: "DrainNode", nodeId: victim },
    events: [
      node.reachable
        ? {
            type: "Normal",
            reason: "DrainingNode",
            message: `draining ${victim}: moving its leaderships and replicas to other nodes`,
          }
        : {
            type: "Warning",
            reason: "ForceRemovingNode",
            message: `removing unreachable ${victim}, confirmed by ${forceRemoveAnnotation}: ${confirmed}; its replicas are rebuilt from the other nodes`,
          },
    ],
  });
}

/** Why removing `victim` would leave fewer voters than a topic's replication factor needs. */
function replicationShortfall(ctx: Ctx, victim: string): string | undefined {
  const left = ctx.nodes.filter((n) => n.state === "voter" && n.id !== victim).length;
  // Without the broker's topic list (an older broker) the check cannot be made and is skipped.
  const topics = ctx.topics ?? [];
  const needy = topics
    .filter((t) => t.replicationFactor > left)
    .sort((a, b) => b.replicationFactor - a.replicationFactor);
  if (needy.length === 0) return undefined;
  const t = needy[0]!;
  return `topic ${t.name} has ${t.replicationFactor} replicas and only ${left} nodes would be left${needy.length > 1 ? ` (${needy.length} topics need more)` : ""}; lower the topic's replication factor or keep more nodes`;
}

function noMajority(ctx: Ctx, what: string): Outcome {
  const voters = metadataVoters(ctx.nodes);
  const up = voters.filter((n) => n.reachable).length;
  return block({
    reason: "QuorumLost",
    message: `${what} waits: only ${up} of ${voters.length} voters answer (a majority is ${majority(voters.length)}); no membership change can commit`,
  });
}
