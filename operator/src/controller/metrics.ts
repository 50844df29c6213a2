import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

// The operator's Prometheus metrics, on a registry of its own (tests make as many as they like).

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<"controller" | "result">;
  reconcileSeconds: Histogram<"controller">;
  actions: Counter<"action">;
  actionFailures: Counter<"action">;
  events: Counter<"type" | "reason">;
  isLeader: Gauge;
  queueDepth: Gauge<"controller">;
  /** 1 while a cluster's condition (Ready, Progressing, Degraded) is True: what the alert rules read. */
  clusterCondition: Gauge<"namespace" | "cluster" | "type">;
  /** Raft voters of a cluster's metadata group, and how many of them answer (quorum-at-risk alert). */
  clusterVoters: Gauge<"namespace" | "cluster">;
  clusterVotersReachable: Gauge<"namespace" | "cluster">;
  /** Reports `depth()` as the controller's queue depth at every scrape. */
  watchQueue(controller: string, depth: () => number): void;
}

export function createMetrics(withDefaults = true): OperatorMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: "geobroker_operator_" });
  const registers = [registry];
  const queues = new Map<string, () => number>();
  return {
    watchQueue: (controller, depth) => {
      queues.set(controller, depth);
    },
    registry,
    reconciles: new Counter({
      name: "geobroker_operator_reconciles_total",
      help: "Reconciles by controller and result (success, error)",
      labelNames: ["controller", "result"],
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: "geobroker_operator_reconcile_duration_seconds",
      help: "Time spent in one reconcile",
      labelNames: ["controller"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    actions: new Counter({
      name: "geobroker_operator_membership_actions_total",
      help: "Membership actions started (AddNode, PromoteNode, DrainNode, RemoveNode, TransferLeadership, DeletePod)",
      labelNames: ["action"],
      registers,
    }),
    actionFailures: new Counter({
      name: "geobroker_operator_membership_action_failures_total",
      help: "Membership actions that failed or were refused for now",
      labelNames: ["action"],
      registers,
    }),
    events: new Counter({
      name: "geobroker_operator_events_total",
      help: "Kubernetes Events recorded",
      labelNames: ["type", "reason"],
      registers,
    }),
    isLeader: new Gauge({
      name: "geobroker_operator_leader",
      help: "1 while this replica holds the leader lease",
      registers,
    }),
    clusterCondition: new Gauge({
      name: "geobroker_operator_cluster_condition",
      help: "1 while the GeoBrokerCluster's condition of this type is True",
      labelNames: ["namespace", "cluster", "type"],
      registers,
    }),
    clusterVoters: new Gauge({
      name: "geobroker_operator_cluster_voters",
      help: "Voters of the cluster's metadata group, as the broker reports them",
      labelNames: ["namespace", "cluster"],
      registers,
    }),
    clusterVotersReachable: new Gauge({
      name: "geobroker_operator_cluster_voters_reachable",
      help: "Voters of the cluster's metadata group that answer",
      labelNames: ["namespace", "cluster"],
      registers,
    }),
    queueDepth: new Gauge({
      name: "geobroker_operator_queue_depth",
      help: "Keys waiting in a controller's work queue",
      labelNames: ["controller"],
      registers,
      // Read at scrape time: the queue is the source of truth, nothing has to remember to set it.
      collect() {
        for (const [controller, depth] of queues) this.set({ controller }, depth());
      },
    }),
  };
}
