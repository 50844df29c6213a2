import { createHash } from "node:crypto";
import { parse } from "yaml";
import { withDefaults } from "../src/api/defaults.js";
import type { GeoBrokerCluster, GeoBrokerClusterSpec } from "../src/api/types.js";
import { initialPeersFromConfigText, type PeerEntry } from "../src/model/broker-config.js";
import type { KubeObject } from "../src/model/kube-object.js";
import { finalizer, names } from "../src/model/names.js";
import type {
  BrokerGroup,
  BrokerNode,
  Observed,
  ObservedPod,
  ObservedStatefulSet,
} from "../src/plan/observed.js";
import { type Plan, plan } from "../src/plan/planner.js";

// A tiny fake of Kubernetes plus the broker's membership, enough to drive the planner through
// whole scenarios: StatefulSets start pods at once, the broker answers admin calls like the proto
// says (AddNode -> learner, PromoteNode -> voter, DrainNode -> draining then drained, RemoveNode).

/** The operator identity's CA certificate the world's operator holds (pki/identity-keeper.ts). */
export const worldOperatorCa =
  "-----BEGIN CERTIFICATE-----\nd29ybGQgb3BlcmF0b3IgQ0E=\n-----END CERTIFICATE-----\n";

export const now = "2025-01-01T00:00:00Z";

export function makeCluster(
  spec: Partial<GeoBrokerClusterSpec> & { regions: GeoBrokerClusterSpec["regions"] },
): GeoBrokerCluster {
  return {
    apiVersion: "geobroker.io/v1alpha1",
    kind: "GeoBrokerCluster",
    metadata: { name: "demo", namespace: "msg", uid: "uid-1", generation: 1, finalizers: [finalizer] },
    spec: withDefaults({ image: "geobroker:1", ...spec }),
  };
}

export const regions3 = (n = 1) => [
  { name: "eu", replicas: n },
  { name: "us", replicas: n },
  { name: "ap", replicas: n },
];

interface Sts {
  replicas: number;
  revision: string;
  storageSize: string;
}

export class World {
  sts = new Map<string, Sts>();
  pods = new Map<string, ObservedPod>();
  pvcs = new Set<string>();
  /** Each claim's uid: a new uid under an old name is a replaced, empty volume. */
  pvcUids = new Map<string, string>();
  memberVolumes: Record<string, string> | undefined;
  configText: string | undefined;
  formed = false;
  nodes = new Map<string, BrokerNode>();
  groups: BrokerGroup[] = [];
  /** The broker's topics, for the replication-factor check of a scale-down. */
  topics: { name: string; replicationFactor: number }[] = [];
  brokerUp = true;
  /** Pods that start but never become ready (a crash loop), by name. */
  stuck = new Set<string>();
  /** Pods whose machine is gone (a lost node or region): never running, their broker unreachable. */
  lost = new Set<string>();
  actions: string[] = [];
  /** Drain calls needed before a node reports drained. */
  drainCalls = new Map<string, number>();

  constructor(public cluster: GeoBrokerCluster) {}

  observe(): Observed {
    const statefulSets: ObservedStatefulSet[] = [...this.sts].map(([region, s]) => ({
      region,
      replicas: s.replicas,
      readyReplicas: [...this.pods.values()].filter((p) => p.region === region && p.ready).length,
      updatedReplicas: [...this.pods.values()].filter((p) => p.region === region && p.revision === s.revision)
        .length,
      updateRevision: s.revision,
      storageSize: s.storageSize,
    }));
    const initialPeers: PeerEntry[] | undefined = initialPeersFromConfigText(this.configText, parse);
    return {
      statefulSets,
      pods: [...this.pods.values()].map((p) => ({ ...p })),
      pvcs: [...this.pvcs].map((name) => {
        const m = /^data-demo-([a-z0-9]+)-(\d+)$/.exec(name)!;
        const size = this.sts.get(m[1]!)?.storageSize;
        const uid = this.pvcUids.get(name) ?? `${name}#1`;
        return { name, region: m[1]!, ordinal: Number(m[2]), uid, ...(size ? { size } : {}) };
      }),
      ...(initialPeers ? { initialPeers } : {}),
      ...(this.formed ? { formed: true } : {}),
      ...(this.memberVolumes ? { memberVolumes: this.memberVolumes } : {}),
      broker:
        this.brokerUp && this.nodes.size > 0
          ? {
              reachable: true,
              nodes: [...this.nodes.values()].map((n) => ({ ...n })),
              groups: this.groups.map((g) => ({ ...g, members: g.members.map((m) => ({ ...m })) })),
              ...(this.topics.length > 0 ? { topics: this.topics.map((t) => ({ ...t })) } : {}),
            }
          : { reachable: false, error: "connection refused" },
      users: [],
      operatorCa: worldOperatorCa,
    };
  }

  plan(): Plan {
    return plan({ cluster: this.cluster, observed: this.observe(), now });
  }

  /** Carries out a plan as the controller would, then lets pods settle. */
  execute(p: Plan): void {
    for (const o of p.apply) this.applyObject(o);
    for (const s of p.scale) {
      const region = s.ref.name.slice("demo-".length);
      this.sts.get(region)!.replicas = s.replicas;
    }
    for (const d of p.delete) {
      if (d.kind === "StatefulSet") this.sts.delete(d.name.slice("demo-".length));
      if (d.kind === "PersistentVolumeClaim") this.pvcs.delete(d.name);
    }
    if (p.finalizer === "remove") this.cluster.metadata.finalizers = [];
    if (p.action) this.act(p);
    this.cluster = { ...this.cluster, status: p.status };
    this.settle();
  }

  private applyObject(o: KubeObject): void {
    // The broker config's ConfigMap (not the client CA's).
    if (o.kind === "ConfigMap" && (o.data as Record<string, string>)["broker.yaml"] !== undefined) {
      this.configText = (o.data as Record<string, string>)["broker.yaml"];
      this.formed = o.metadata.annotations?.["geobroker.io/formed"] === "true";
      const volumes = o.metadata.annotations?.["geobroker.io/member-volumes"];
      this.memberVolumes = volumes ? (JSON.parse(volumes) as Record<string, string>) : undefined;
    }
    if (o.kind !== "StatefulSet") return;
    const region = o.metadata.labels!["geobroker.io/region"]!;
    const spec = o.spec as {
      replicas: number;
      template: unknown;
      volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[];
    };
    const revision = createHash("sha256").update(JSON.stringify(spec.template)).digest("hex").slice(0, 10);
    this.sts.set(region, {
      replicas: spec.replicas,
      revision,
      storageSize: spec.volumeClaimTemplates[0]!.spec.resources.requests.storage,
    });
  }

  private act(p: Plan): void {
    const a = p.action!;
    switch (a.kind) {
      case "AddNode":
        this.actions.push(`add ${a.node.id}`);
        this.nodes.set(a.node.id, {
          id: a.node.id,
          region: a.node.region,
          state: "learner",
          reachable: true,
        });
        for (const g of this.groups) g.members.push({ nodeId: a.node.id, role: "learner", lagEntries: 5n });
        break;
      case "PromoteNode":
        this.actions.push(`promote ${a.nodeId}`);
        this.nodes.get(a.nodeId)!.state = "voter";
        for (const g of this.groups) for (const m of g.members) if (m.nodeId === a.nodeId) m.role = "voter";
        break;
      case "DrainNode": {
        this.actions.push(`drain ${a.nodeId}`);
        const n = this.nodes.get(a.nodeId)!;
        const calls = (this.drainCalls.get(a.nodeId) ?? 0) + 1;
        this.drainCalls.set(a.nodeId, calls);
        n.state = calls >= 2 ? "drained" : "draining";
        if (n.state === "drained") {
          for (const g of this.groups) {
            if (g.leader === a.nodeId)
              g.leader = g.members.find((m) => m.nodeId !== a.nodeId && m.role === "voter")!.nodeId;
          }
        }
        break;
      }
      case "CancelDrain":
        this.actions.push(`cancel-drain ${a.nodeId}`);
        this.nodes.get(a.nodeId)!.state = "voter";
        this.drainCalls.delete(a.nodeId);
        break;
      case "RemoveNode":
        this.actions.push(`remove ${a.nodeId}`);
        this.nodes.delete(a.nodeId);
        for (const g of this.groups) g.members = g.members.filter((m) => m.nodeId !== a.nodeId);
        break;
      case "TransferLeadership":
        this.actions.push(`transfer ${a.groupId} ${a.fromNodeId}->${a.targetNodeId}`);
        this.groups.find((g) => g.id === a.groupId)!.leader = a.targetNodeId;
        break;
      case "DeletePod": {
        this.actions.push(`restart ${a.podName}`);
        this.pods.delete(a.podName);
        // The broker is down until its new pod is ready, one reconcile later (see settle).
        const n = this.nodes.get(a.podName);
        if (n) n.reachable = false;
        break;
      }
    }
  }

  /** Pods follow their StatefulSets; learners catch up; a first cluster forms from its initial voters. */
  settle(): void {
    // A restarted pod (not ready, not stuck, its machine not lost) is back by the next reconcile.
    for (const p of this.pods.values()) {
      if (p.ready || this.stuck.has(p.name) || this.lost.has(p.name)) continue;
      p.ready = true;
      p.running = true;
      const n = this.nodes.get(p.name);
      if (n) n.reachable = true;
    }
    for (const [region, s] of this.sts) {
      for (let i = 0; i < s.replicas; i++) {
        const name = names.pod("demo", region, i);
        if (!this.pods.has(name)) {
          const restarting = this.nodes.get(name)?.reachable === false;
          const ready = !this.stuck.has(name) && !this.lost.has(name) && !restarting;
          this.pods.set(name, {
            name,
            region,
            ordinal: i,
            running: !this.lost.has(name),
            ready,
            revision: s.revision,
            terminating: false,
          });
          this.pvcs.add(names.pvc("demo", region, i));
        }
      }
      for (const p of [...this.pods.values()])
        if (p.region === region && p.ordinal >= s.replicas) this.pods.delete(p.name);
    }
    for (const p of [...this.pods.values()]) if (!this.sts.has(p.region)) this.pods.delete(p.name);
    const peers = this.configText ? initialPeersFromConfigText(this.configText, parse)! : [];
    const running = peers.filter((peer) => this.pods.get(peer.id)?.running).length;
    if (this.nodes.size === 0 && running > peers.length / 2) {
      // Bootstrap: a majority of the initial voters runs and elects a leader for the metadata
      // group and one data group.
      for (const peer of peers)
        this.nodes.set(peer.id, { id: peer.id, region: peer.region, state: "voter", reachable: true });
      const members = peers.map((peer) => ({ nodeId: peer.id, role: "voter" as const, lagEntries: 0n }));
      this.groups = [
        { id: 1n, topic: "metadata", leader: peers[0]!.id, members: members.map((m) => ({ ...m })) },
        {
          id: 2n,
          topic: "orders",
          leader: peers[peers.length - 1]!.id,
          members: members.map((m) => ({ ...m })),
        },
      ];
    }
    // Learners catch up between two reconciles.
    for (const g of this.groups) for (const m of g.members) if (m.role === "learner") m.lagEntries = 0n;
  }

  /** The machine of `pod` is gone for good: its pod never runs again, its broker never answers. */
  lose(...pods: string[]): void {
    for (const name of pods) {
      this.lost.add(name);
      const p = this.pods.get(name);
      if (p) Object.assign(p, { ready: false, running: false });
      const n = this.nodes.get(name);
      if (n) n.reachable = false;
    }
  }

  /** A majority of the Raft voters (every member but learners) answers. */
  quorate(): boolean {
    const voters = [...this.nodes.values()].filter((n) => n.state !== "learner");
    return voters.filter((n) => n.reachable).length > voters.length / 2;
  }

  voters(): number {
    return [...this.nodes.values()].filter((n) => n.state === "voter").length;
  }

  /**
   * Reconciles until a reconcile changes nothing and nothing is in progress (like a real
   * controller, a template change shows up in the StatefulSet's revision only after it is applied).
   * Checks after every step that a majority of voters was never lost.
   */
  converge(limit = 100): Plan {
    for (let i = 0; i < limit; i++) {
      const p = this.plan();
      const before = JSON.stringify([...this.sts]);
      const votersBefore = this.voters();
      const quorateBefore = this.quorate();
      this.execute(p);
      if (votersBefore >= 3 && this.voters() < 2) throw new Error(`quorum lost after ${this.actions.at(-1)}`);
      if (quorateBefore && !this.quorate())
        throw new Error(`no reachable majority after ${this.actions.at(-1)}: ${this.actions.join(", ")}`);
      const progressing = p.status.conditions?.find((c) => c.type === "Progressing")?.status === "True";
      const idle = !p.action && p.delete.length === 0 && p.scale.length === 0 && !p.finalizer;
      if (!progressing && idle && before === JSON.stringify([...this.sts])) return p;
    }
    throw new Error(`no convergence after ${limit} reconciles; actions: ${this.actions.join(", ")}`);
  }
}

export function cond(p: Plan, type: string) {
  return p.status.conditions?.find((c) => c.type === type);
}
