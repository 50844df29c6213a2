import { accessSync, constants, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Kube, KubeError, type KubeObject } from "../kube-rest.js";
import { network, repoRoot } from "../paths.js";
import { PodWorker } from "./pod-worker.js";
import { AddressPool } from "./sandbox.js";

// The "process kubelet": registers one Node per simulated machine (with region and zone labels),
// keeps their leases and Ready condition fresh, and runs every pod the scheduler binds to them as
// local processes (see pod-worker.ts). One agent serves all nodes, as they share this machine.

export interface NodeSpec {
  name: string;
  region: string;
  zone: string;
}

const kubeletVersion = "v1.37.2";
const leaseRenewMs = 10_000;

/** Whether a user other than root can reach the repository (runAsUser needs that). */
function repoReadableByOthers(): boolean {
  for (let dir = repoRoot; dir !== "/"; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
  }
  try {
    accessSync(join(repoRoot, "package.json"), constants.R_OK);
    return (statSync(join(repoRoot, "package.json")).mode & 0o004) !== 0;
  } catch {
    return false;
  }
}

export class NodeAgent {
  private readonly workers = new Map<string, PodWorker>();
  private readonly addresses = new AddressPool();
  private nextSandbox = 1;
  private stopWatch: (() => void) | undefined;
  /** Machines that are gone: no heartbeat, no pods, never registered again. */
  private readonly lost = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  readonly honourRunAsUser = repoReadableByOthers();

  constructor(
    private readonly kube: Kube,
    readonly nodes: NodeSpec[],
    private readonly podsDir: string,
    private readonly log: (message: string) => void,
  ) {
    if (!this.honourRunAsUser) {
      log(
        `process kubelet: ${repoRoot} is not readable by other users; pods run as root, ignoring runAsUser`,
      );
    }
  }

  async start(): Promise<void> {
    for (const node of this.nodes) await this.register(node);
    await this.renew();
    this.heartbeat = setInterval(() => void this.renew(), leaseRenewMs);
    const names = new Set(this.nodes.map((n) => n.name));
    this.stopWatch = this.kube.informer(
      "/api/v1/pods",
      (event) => {
        const node = event.object.spec?.nodeName;
        if (!names.has(node) || this.lost.has(node)) return;
        this.onPod(event.type, event.object);
      },
      (err) => this.log(`process kubelet: pod watch: ${err.message}`),
    );
  }

  private async register(node: NodeSpec): Promise<void> {
    await this.kube.create("/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: node.name,
        labels: {
          "kubernetes.io/hostname": node.name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          "topology.kubernetes.io/region": node.region,
          "topology.kubernetes.io/zone": node.zone,
        },
      },
      spec: {},
    });
  }

  private nodeStatus(): Record<string, unknown> {
    const now = new Date().toISOString();
    const resources = { cpu: "16", memory: "32Gi", pods: "110", "ephemeral-storage": "100Gi" };
    return {
      capacity: resources,
      allocatable: resources,
      addresses: [{ type: "InternalIP", address: network.hostIp }],
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "process kubelet is posting ready status",
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        ...["MemoryPressure", "DiskPressure", "PIDPressure"].map((type) => ({
          type,
          status: "False",
          reason: `KubeletHasNo${type}`,
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        })),
      ],
      nodeInfo: {
        kubeletVersion,
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture: "amd64",
        containerRuntimeVersion: "process://geobroker-e2e",
        osImage: "geobroker e2e process kubelet",
        kernelVersion: "",
        machineID: "",
        systemUUID: "",
        bootID: "",
      },
    };
  }

  /** Node lease (the heartbeat the node lifecycle controller reads) and Ready condition. */
  private async renew(): Promise<void> {
    const now = new Date().toISOString().replace("Z", "000Z");
    for (const node of this.nodes) {
      if (this.lost.has(node.name)) continue;
      try {
        await this.kube.patch(`/api/v1/nodes/${node.name}/status`, { status: this.nodeStatus() });
        const lease = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node.name}`;
        const body = { spec: { holderIdentity: node.name, leaseDurationSeconds: 40, renewTime: now } };
        const existing = await this.kube.get(lease);
        if (existing) await this.kube.patch(lease, body);
        else {
          await this.kube.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: node.name },
            ...body,
          });
        }
      } catch (err) {
        if (!(err instanceof KubeError && err.status === 404))
          this.log(`process kubelet: heartbeat ${node.name}: ${(err as Error).message}`);
        else await this.register(node).catch(() => {});
      }
    }
  }

  private onPod(type: string, pod: KubeObject): void {
    const uid = pod.metadata.uid as string;
    const worker = this.workers.get(uid);
    if (type === "DELETED") {
      if (worker) void worker.abandon().finally(() => this.workers.delete(uid));
      return;
    }
    if (worker) {
      worker.update(pod);
      return;
    }
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return;
    const sandboxId = (this.nextSandbox++).toString(36);
    const created = new PodWorker(pod, {
      kube: this.kube,
      addresses: this.addresses,
      podDir: join(this.podsDir, `${pod.metadata.namespace}_${pod.metadata.name}_${uid.slice(0, 8)}`),
      sandboxId,
      honourRunAsUser: this.honourRunAsUser,
      log: this.log,
    });
    this.workers.set(uid, created);
    created.start().catch((err) => this.log(`process kubelet: ${created.name}: ${(err as Error).message}`));
  }

  /** The running pod worker for namespace/name (tests use it to kill -9 a container). */
  pod(namespace: string, name: string): PodWorker | undefined {
    return [...this.workers.values()].find((w) => w.name === `${namespace}/${name}`);
  }

  /**
   * A whole region's machines vanish: their pods' processes die at once (kill -9), their
   * heartbeats stop, and nothing is written to the API (a dead machine says nothing). Returns the
   * node names, for the test to delete as a cloud's node controller would.
   */
  async loseRegion(region: string): Promise<string[]> {
    const gone = this.nodes.filter((n) => n.region === region).map((n) => n.name);
    for (const name of gone) this.lost.add(name);
    const workers = [...this.workers.entries()].filter(([, w]) => gone.includes(w.nodeName));
    await Promise.all(workers.map(([, w]) => w.abandon()));
    for (const [uid] of workers) this.workers.delete(uid);
    return gone;
  }

  /** Stops every pod at once (the machine goes away), without touching the API. */
  async stop(): Promise<void> {
    this.stopWatch?.();
    clearInterval(this.heartbeat);
    await Promise.all([...this.workers.values()].map((w) => w.abandon()));
    this.workers.clear();
  }
}
