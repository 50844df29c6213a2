import type { GeoBrokerCluster } from "../api/types.js";
import { type BrokerAdmin, describeConnectError, isNotYet } from "../broker/admin-client.js";
import { describeApiError, type KubeClient } from "../kube/client.js";
import type { BrokerNode } from "../plan/observed.js";
import type { MembershipAction, Plan } from "../plan/planner.js";
import type { Step } from "../plan/types.js";
import type { Logger } from "./logger.js";
import type { OperatorMetrics } from "./metrics.js";
import { confirmRemoval, recheckRemoval, sameBlock, withBlock } from "./outcome.js";

// Carrying out a plan's one membership action, and what it teaches the status: a removal the
// re-check refuses, a drain the broker says is stuck, a call the broker answers "not yet".

export interface ActDeps {
  kube: KubeClient;
  /** A fresh admin client dialing one node directly (not the cached session through the Service). */
  adminAt?(node: BrokerNode): Promise<BrokerAdmin | undefined>;
  log: Logger;
  metrics?: OperatorMetrics;
  now(): string;
}

export interface ActionOutcome {
  status: Plan["status"];
  events: Plan["events"];
  requeueSooner: boolean;
  /** A real failure: the reconcile fails and is retried with back-off. */
  error?: Error;
}

export async function runAction(
  deps: ActDeps,
  cluster: GeoBrokerCluster,
  p: Plan,
  a: MembershipAction,
  admin: BrokerAdmin | undefined,
): Promise<ActionOutcome> {
  const { kube, log, metrics } = deps;
  const ns = cluster.metadata.namespace;
  const name = cluster.metadata.name;
  metrics?.actions.inc({ action: a.kind });
  const ok: ActionOutcome = { status: p.status, events: p.events, requeueSooner: false };
  try {
    if (a.kind === "DeletePod") {
      await kube.delete({ apiVersion: "v1", kind: "Pod", namespace: ns, name: a.podName });
      return ok;
    }
    if (!admin) throw new Error("no broker admin client");
    const recheck = a.kind === "RemoveNode" ? await recheckRemoval(admin, a.nodeId) : undefined;
    if (recheck?.refused) {
      const status = withBlock(p.status, recheck.refused, deps.now(), cluster.status);
      return { status, events: [{ type: "Warning", ...recheck.refused }], requeueSooner: true };
    }
    const result = await admin.execute(a);
    log.info("membership action", { cluster: name, action: a.kind, result: result.summary });
    if (a.kind === "RemoveNode" && recheck) {
      const voter = recheck.voter;
      const voterAdmin = voter ? await deps.adminAt?.(voter) : undefined;
      const unconfirmed = await confirmRemoval(voterAdmin, voter, a.nodeId);
      if (unconfirmed) return notYet(cluster, p, a, unconfirmed);
    }
    if (!result.stuck) return ok;
    const stuck = {
      reason: "DrainStuck",
      message: `${a.kind} ${"nodeId" in a ? a.nodeId : ""}: ${result.stuck}`,
    };
    const status = withBlock(p.status, stuck, deps.now(), cluster.status);
    const events = sameBlock(cluster.status, stuck)
      ? p.events
      : [...p.events, { type: "Warning" as const, ...stuck }];
    return { status, events, requeueSooner: false };
  } catch (err) {
    metrics?.actionFailures.inc({ action: a.kind });
    const why = a.kind === "DeletePod" ? describeApiError(err) : describeConnectError(err);
    const warning = {
      type: "Warning" as const,
      reason: `${a.kind}Failed`,
      message: `${a.kind} did not complete: ${why}`,
    };
    if (a.kind === "DeletePod" || !isNotYet(err))
      return { ...ok, events: [warning], error: new Error(`${a.kind} for cluster ${ns}/${name}: ${why}`) };
    // Not yet (the broker is still moving data, a learner still catching up): the planner takes
    // the same step at the next poll.
    return notYet(
      cluster,
      p,
      a,
      { reason: warning.reason, message: warning.message },
      `the broker says: ${why}`,
    );
  }
}

/**
 * A step to take again at the next poll. Its words go into the status; the Warning is recorded
 * when they change, not at every poll.
 */
function notYet(
  cluster: GeoBrokerCluster,
  p: Plan,
  a: MembershipAction,
  warning: Step,
  words = warning.message,
): ActionOutcome {
  const currentStep = `${p.status.currentStep ?? a.kind}; ${words}`;
  const repeated = cluster.status?.currentStep === currentStep;
  return {
    status: { ...p.status, currentStep },
    events: repeated ? [] : [{ type: "Warning", ...warning }],
    requeueSooner: true,
  };
}
