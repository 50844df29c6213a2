import type { GeoBrokerClusterStatus } from "../api/types.js";
import type { BrokerAdmin } from "../broker/admin-client.js";
import { condition } from "../plan/conditions.js";
import { majorityLoss } from "../plan/quorum.js";
import type { Step } from "../plan/types.js";

// What the controller learns while carrying a plan out, folded back into the status: the quorum
// seen right before a removal, and a drain the broker says cannot finish.

/**
 * Seconds may pass between observing and acting; a node that stopped answering meanwhile could
 * make the removal cost a majority. So the broker is read again right before every RemoveNode.
 */
export async function recheckRemoval(admin: BrokerAdmin, nodeId: string): Promise<Step | undefined> {
  const now = await admin.observe();
  if (!now.reachable)
    return {
      reason: "BrokerUnreachable",
      message: `not removing ${nodeId}: the broker did not answer the re-check: ${now.error}`,
    };
  const risk = majorityLoss(now.nodes, now.groups, nodeId, "remove");
  return risk ? { reason: "QuorumAtRisk", message: `not removing ${nodeId}: ${risk}` } : undefined;
}

/**
 * The status with Degraded=True for `blocked` (and Ready=False), the rest as planned; transition
 * times continue from `previous`, the status the cluster had before this reconcile.
 */
export function withBlock(
  status: GeoBrokerClusterStatus,
  blocked: Step,
  now: string,
  previous: GeoBrokerClusterStatus | undefined,
): GeoBrokerClusterStatus {
  const conditions = (status.conditions ?? []).map((c) =>
    c.type === "Degraded" || c.type === "Ready"
      ? condition(
          c.type,
          { status: c.type === "Degraded", ...blocked },
          c.observedGeneration,
          previous?.conditions,
          now,
        )
      : c,
  );
  return { ...status, conditions };
}

/** The previous status already reported this block: its Warning was recorded then. */
export function sameBlock(previous: GeoBrokerClusterStatus | undefined, blocked: Step): boolean {
  const d = previous?.conditions?.find((c) => c.type === "Degraded");
  return d?.status === "True" && d.reason === blocked.reason && d.message === blocked.message;
}
