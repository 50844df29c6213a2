import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { CallObserver } from "./call-observer.js";

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

/** Every metric a node exports on /metrics. One registry per node so tests can run several nodes. */
export class NodeMetrics implements CallObserver {
  readonly registry = new Registry();
  readonly rpcCalls = new Counter({
    name: "geobroker_rpc_calls_total",
    help: "Client RPCs by service, method and result code",
    labelNames: ["service", "method", "code"],
    registers: [this.registry],
  });
  readonly rpcSeconds = new Histogram({
    name: "geobroker_rpc_seconds",
    help: "Client RPC latency (streams: to the first response)",
    labelNames: ["service", "method"],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: "geobroker_published_messages_total",
    help: "Messages committed by publishes on this node",
    registers: [this.registry],
  });
  readonly publishedBytes = new Counter({
    name: "geobroker_published_bytes_total",
    help: "Body bytes committed by publishes on this node",
    registers: [this.registry],
  });
  readonly publishSeconds = new Histogram({
    name: "geobroker_publish_commit_seconds",
    help: "Publish to commit latency",
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly delivered = new Counter({
    name: "geobroker_delivered_messages_total",
    help: "Messages delivered to subscribers of this node",
    registers: [this.registry],
  });
  readonly retainedMessages = new Gauge({
    name: "geobroker_retained_messages",
    help: "Messages retained in the partition replicas on this node",
    registers: [this.registry],
  });
  readonly retainedBytes = new Gauge({
    name: "geobroker_retained_bytes",
    help: "Message body bytes retained in the partition replicas on this node",
    registers: [this.registry],
  });
  readonly retentionDeletedMessages = new Counter({
    name: "geobroker_retention_deleted_messages_total",
    help: "Messages retention removed from the partition replicas on this node",
    registers: [this.registry],
  });
  readonly retentionDeletedBytes = new Counter({
    name: "geobroker_retention_deleted_bytes_total",
    help: "Message body bytes retention removed from the partition replicas on this node",
    registers: [this.registry],
  });
  readonly deliverLagSeconds = new Histogram({
    name: "geobroker_deliver_lag_seconds",
    help: "Commit timestamp to delivery on this node",
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly raftTerm = new Gauge({
    name: "geobroker_raft_term",
    help: "Current Raft term per group",
    labelNames: ["group"],
    registers: [this.registry],
  });
  readonly raftCommit = new Gauge({
    name: "geobroker_raft_commit_index",
    help: "Raft commit index per group",
    labelNames: ["group"],
    registers: [this.registry],
  });
  readonly raftApplied = new Gauge({
    name: "geobroker_raft_applied_index",
    help: "Raft applied index per group",
    labelNames: ["group"],
    registers: [this.registry],
  });
  readonly raftLeader = new Gauge({
    name: "geobroker_raft_is_leader",
    help: "1 when this node leads the group",
    labelNames: ["group"],
    registers: [this.registry],
  });
  readonly peerLagEntries = new Gauge({
    name: "geobroker_raft_peer_lag_entries",
    help: "Entries a follower is behind, as its leader sees it",
    labelNames: ["group", "peer"],
    registers: [this.registry],
  });
  readonly fsyncSeconds = new Histogram({
    name: "geobroker_storage_fsync_seconds",
    help: "Duration of each synced write batch",
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly fsyncEntries = new Histogram({
    name: "geobroker_storage_fsync_entries",
    help: "Raft entries per synced write batch (group commit)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });

  constructor(labels: Record<string, string>) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: "geobroker_process_" });
  }

  observe(service: string, method: string, code: string, seconds: number): void {
    this.rpcCalls.inc({ service, method, code });
    this.rpcSeconds.observe({ service, method }, seconds);
  }
}
