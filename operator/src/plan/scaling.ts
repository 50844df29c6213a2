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

// Steps 4 and 5: one more pod in the first region short of its count; otherwise the highest
// ordinal of a region over its count leaves (drained, removed, then its pod stops). Unreachable
// members do not stop either as long as the step keeps every majority; a lost node leaves only
// with the force-remove annotation naming it or its region.

export function scaleUp(ctx: Ctx): boolean {
  for (const region of ctx.regionOrder) {
    const have = ctx.current.get(region) ?? 0;
    const want = ctx.desired.get(region) ?? 0;
    if (have >= want) continue;
    if (ctx.starting.length > 0) return waitForStarting(ctx, `scaling up ${region}`);
    if (!hasMajority(ctx.nodes)) return noMajority(ctx, `scaling up ${region}`);
    ctx.decision.replicas.set(region, have + 1);
    const pod = names.pod(ctx.c, region, have);
    ctx.decision.events.push({
      type: "Normal",
      reason: "ScalingUp",
      message: `scaling ${names.statefulSet(ctx.c, region)} to ${have + 1} replicas for ${pod}`,
    });
    return progress(ctx, "ScalingUp", `starting ${pod} (${region}: ${have + 1}/${want})`);
  }
  return false;
}

export function scaleDown(ctx: Ctx): boolean {
  for (const region of ctx.regionOrder) {
    const have = ctx.current.get(region) ?? 0;
    const want = ctx.desired.get(region) ?? 0;
    if (have <= want) continue;
    const victim = names.pod(ctx.c, region, have - 1);
    const node = ctx.nodeById.get(victim);
    if (!node) {
      ctx.decision.replicas.set(region, have - 1);
      ctx.decision.events.push({
        type: "Normal",
        reason: "ScalingDown",
        message: `scaling ${names.statefulSet(ctx.c, region)} to ${have - 1} replicas; ${victim} is no longer a member`,
      });
      return progress(
        ctx,
        "ScalingDown",
        `stopping ${victim}, which left the cluster (${region}: ${have - 1}/${want})`,
      );
    }
    const short = replicationShortfall(ctx, victim);
    if (short)
      return block(ctx, { reason: "ReplicationFactor", message: `not removing ${victim}: ${short}` }, true);
    const confirmed = confirmation(ctx, victim);
    if (!node.reachable && !confirmed) {
      return block(
        ctx,
        {
          reason: "ConfirmationRequired",
          message: `${victim} is unreachable: removing it gives up whatever only it holds. To remove it anyway, annotate the cluster with ${forceRemoveAnnotation}: ${region} (the region) or ${forceRemoveAnnotation}: ${victim} (the node)`,
        },
        true,
      );
    }
    const risk = majorityLoss(ctx.nodes, ctx.groups, victim, "remove");
    if (risk) return block(ctx, { reason: "QuorumAtRisk", message: `not removing ${victim}: ${risk}` }, true);
    const others = ctx.starting.filter((p) => p !== victim);
    if (others.length > 0) return waitForStarting({ ...ctx, starting: others }, `removing ${victim}`);
    ctx.decision.action = { kind: "DrainNode", nodeId: victim };
    ctx.decision.events.push(
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
    );
    return progress(ctx, "ScalingDown", `draining ${victim} (${region}: ${have} -> ${want})`);
  }
  return false;
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

function noMajority(ctx: Ctx, what: string): true {
  const voters = metadataVoters(ctx.nodes);
  const up = voters.filter((n) => n.reachable).length;
  return block(ctx, {
    reason: "QuorumLost",
    message: `${what} waits: only ${up} of ${voters.length} voters answer (a majority is ${majority(voters.length)}); no membership change can commit`,
  });
}
