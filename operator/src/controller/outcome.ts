import type { GeoBrokerClusterStatus } from "../api/types.js";
import type { BrokerAdmin } from "../broker/admin-client.js";
import { condition } from "../plan/conditions.js";
import type { BrokerGroup, BrokerNode } from "../plan/observed.js";
import { majorityLoss } from "../plan/quorum.js";
import type { Step } from "../plan/types.js";

// What the controller learns while carrying a plan out, folded back into the status: the quorum
// seen right before a removal, and a drain the broker says cannot finish.

/**
 * Seconds may pass between observing and acting; a node that stopped answering meanwhile could
 * make the removal cost a majority. So the broker is read again right before every RemoveNode.
 */
export async function recheckRemoval(
  admin: BrokerAdmin,
  nodeId: string,
): Promise<{ refused: Step } | { refused?: undefined; voter: BrokerNode | undefined }> {
  const now = await admin.observe();
  if (!now.reachable)
    return {
      refused: {
        reason: "BrokerUnreachable",
        message: `not removing ${nodeId}: the broker did not answer the re-check: ${now.error}`,
      },
    };
  const risk = majorityLoss(now.nodes, now.groups, nodeId, "remove");
  if (risk) return { refused: { reason: "QuorumAtRisk", message: `not removing ${nodeId}: ${risk}` } };
  return { voter: metadataVoter(now.nodes, now.groups, nodeId) };
}

/**
 * A reachable voter of the metadata group other than `except`, its leader first: the node whose
 * membership list a removal is confirmed against. Not whatever pod the cached session reached:
 * that can be the removed node itself, or one lagging behind the leader.
 */
export function metadataVoter(
  nodes: BrokerNode[],
  groups: BrokerGroup[],
  except: string,
): BrokerNode | undefined {
  const metadata = groups.find((g) => g.topic === "metadata");
  if (!metadata) return undefined;
  const reachable = (id: string) => nodes.find((n) => n.id === id && n.reachable && id !== except);
  const voters = metadata.members.filter((m) => m.role === "voter").map((m) => m.nodeId);
  for (const id of [metadata.leader, ...voters]) {
    const n = id ? reachable(id) : undefined;
    if (n) return n;
  }
  return undefined;
}

/**
 * After RemoveNode answered success: the membership read back from a metadata voter no longer
 * lists the node. Undefined when confirmed; otherwise what is still to be seen, a step to retry.
 */
export async function confirmRemoval(
  voterAdmin: BrokerAdmin | undefined,
  voter: BrokerNode | undefined,
  nodeId: string,
): Promise<Step | undefined> {
  const unconfirmed = (why: string) => ({
    reason: "RemovalUnconfirmed",
    message: `RemoveNode ${nodeId} answered success, but ${why}; checking again`,
  });
  if (!voter || !voterAdmin) return unconfirmed("no reachable metadata voter to read the membership from");
  try {
    const seen = await voterAdmin.observe();
    if (!seen.reachable) return unconfirmed(`metadata voter ${voter.id} did not answer: ${seen.error}`);
    return seen.nodes.some((n) => n.id === nodeId)
      ? unconfirmed(`metadata voter ${voter.id} still lists it`)
      : undefined;
  } finally {
    voterAdmin.close();
  }
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
