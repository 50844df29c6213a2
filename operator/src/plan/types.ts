import type { GeoBrokerCluster, GeoBrokerClusterStatus } from "../api/types.js";
import type { PeerEntry } from "../model/broker-config.js";
import type { KubeObject, ObjectRef } from "../model/kube-object.js";
import type { Observed } from "./observed.js";

// The planner's vocabulary: what it reads (PlanInput), what it decides (Decision), what the
// controller carries out (Plan). Kept apart so each step module imports only words, not steps.

export type MembershipAction =
  | { kind: "AddNode"; node: PeerEntry }
  | { kind: "PromoteNode"; nodeId: string }
  | { kind: "DrainNode"; nodeId: string }
  | { kind: "CancelDrain"; nodeId: string }
  | { kind: "RemoveNode"; nodeId: string }
  | { kind: "TransferLeadership"; groupId: bigint; fromNodeId: string; targetNodeId: string }
  | { kind: "DeletePod"; podName: string };

export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface ScaleChange {
  ref: ObjectRef;
  replicas: number;
}

/** A volume claim to grow in place (the StatefulSet's claim template cannot change). */
export interface VolumeResize {
  ref: ObjectRef;
  size: string;
}

export interface Plan {
  /** Server-side applied every time: the full desired state. */
  apply: KubeObject[];
  delete: ObjectRef[];
  /** Replica changes of StatefulSets that are no longer built from the spec (removed regions). */
  scale: ScaleChange[];
  resize: VolumeResize[];
  action?: MembershipAction;
  finalizer?: "add" | "remove";
  status: GeoBrokerClusterStatus;
  /** Emitted once the plan's writes and action succeeded. */
  events: PlannedEvent[];
  /** When to look again even if nothing changes (polling a drain, a learner catching up). */
  requeueAfterMs: number;
}

export interface PlanInput {
  cluster: GeoBrokerCluster;
  observed: Observed;
  /** RFC 3339, for condition transition times. */
  now: string;
  /** The operator's enrollment endpoint the brokers get their peer certificates from (runtime flags). */
  enrollmentUrl?: string;
}

export interface Step {
  reason: string;
  message: string;
}

/** What one rule of the chain decides (rules.ts): its step or its block, and what goes with it. */
export interface Outcome {
  /** Regions whose StatefulSet count changes; every other region keeps its current count. */
  replicas?: Map<string, number>;
  action?: MembershipAction;
  /** Work under way (Progressing=True). */
  step?: Step;
  /** Cannot proceed safely (Degraded=True). */
  blocked?: Step;
  events: PlannedEvent[];
}

export interface Decision extends Omit<Outcome, "replicas"> {
  /** Every region's StatefulSet count, removed regions included. */
  replicas: Map<string, number>;
  /** The name of the rule that decided; absent when no rule had anything to do (or outside the chain). */
  rule?: string;
}

/** A learner this close to the leader's log is promoted. */
export const caughtUpLagEntries = 0n;
/**
 * A restarted voter this close to each of its groups' leaders counts as caught up before the next
 * pod restarts (the broker's own bar for promoting a learner is 64 entries behind the leader).
 */
export const rollCatchUpLagEntries = 64n;
export const pollMs = 5_000;
export const resyncMs = 60_000;
