import {
  apiVersion,
  type GeoBrokerCluster,
  type GeoBrokerNodePool,
  type GeoBrokerUser,
} from "../api/types.js";
import type { BrokerAdmin } from "../broker/admin-client.js";
import { describeApiError, type KubeClient } from "../kube/client.js";
import type { PeerTrust } from "../model/client-ca.js";
import { describeRef } from "../model/kube-object.js";
import { annotationKeys, finalizer, labelKeys, names } from "../model/names.js";
import { passwordSecretName, userEntry } from "../model/users.js";
import { nodePoolStatus, withNodePools } from "../plan/node-pools.js";
import type {
  BrokerNode,
  ObservedBroker,
  ObservedPod,
  ObservedPvc,
  ObservedStatefulSet,
} from "../plan/observed.js";
import { type Plan, plan, pollMs } from "../plan/planner.js";
import { runAction } from "./act.js";
import { recordEvent } from "./events.js";
import type { Logger } from "./logger.js";
import type { OperatorMetrics } from "./metrics.js";
import {
  initialPeersOf,
  memberVolumesOf,
  observePod,
  observePvc,
  observeStatefulSet,
  usersOf,
  zoneLabel,
} from "./observe.js";

function recordClusterMetrics(
  m: OperatorMetrics,
  namespace: string,
  cluster: string,
  status: Plan["status"],
) {
  for (const c of status.conditions ?? [])
    m.clusterCondition.set({ namespace, cluster, type: c.type }, c.status === "True" ? 1 : 0);
  const voters = (status.members ?? []).filter((x) => x.state !== "learner");
  if (voters.length === 0) return;
  m.clusterVoters.set({ namespace, cluster }, voters.length);
  m.clusterVotersReachable.set({ namespace, cluster }, voters.filter((x) => x.reachable).length);
}

// The thin part: read the world, ask the planner, carry the plan out. No decision is made here
// that the planner could make, and nothing is remembered between reconciles except caches.

export interface ClusterControllerDeps {
  kube: KubeClient;
  /** The admin client of a cluster (mTLS with the operator's certificate); undefined until it can be built. */
  admin(cluster: GeoBrokerCluster): Promise<BrokerAdmin | undefined>;
  /**
   * A fresh admin client dialing one node of the cluster directly, closed after use: what a
   * removal is confirmed through (the cached session may sit on the removed node itself).
   */
  adminAt?(cluster: GeoBrokerCluster, node: BrokerNode): Promise<BrokerAdmin | undefined>;
  /**
   * The CA certificates (PEM) of the operator's own identity (pki/identity-keeper.ts), written to
   * each cluster's client-ca ConfigMap. Absent: that ConfigMap is not managed (tests of other parts).
   */
  operatorCa?: () => Promise<string>;
  /**
   * The cluster's peer CA and the enrollment endpoint's CA (pki/pki-store.ts), for the cluster's
   * peer-ca ConfigMap; `forgetPeerCa` deletes the CA once the cluster is gone. Absent: not managed.
   */
  peerPki?: {
    trust(cluster: GeoBrokerCluster): Promise<PeerTrust>;
    forget(cluster: GeoBrokerCluster): Promise<void>;
    enrollmentUrl: string;
  };
  log: Logger;
  metrics?: OperatorMetrics;
  now?: () => Date;
}

const clusterRef = (ns: string, name: string) => ({
  apiVersion,
  kind: "GeoBrokerCluster",
  namespace: ns,
  name,
});

export class ClusterController {
  private readonly hashes = new Map<string, ReturnType<typeof userEntry>>();

  constructor(private readonly deps: ClusterControllerDeps) {}

  /** Reconciles "namespace/name"; resolves to when to look again. Throws to retry with back-off. */
  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split("/") as [string, string];
    const { kube, log } = this.deps;
    const declared = await kube.get<GeoBrokerCluster>(clusterRef(namespace, name));
    if (!declared) return {};
    const pools = await kube.list<GeoBrokerNodePool>(apiVersion, "GeoBrokerNodePool", namespace);
    // A region's GeoBrokerNodePool (the scale subresource's target) holds its node count.
    const cluster = withNodePools(declared, pools);

    const selector = `${labelKeys.cluster}=${name}`;
    const [stsList, podList, pvcList, configMap, users, brokerServices] = await Promise.all([
      kube.list<Parameters<typeof observeStatefulSet>[0]>("apps/v1", "StatefulSet", namespace, selector),
      kube.list<Parameters<typeof observePod>[1]>("v1", "Pod", namespace, selector),
      kube.list<Parameters<typeof observePvc>[1]>("v1", "PersistentVolumeClaim", namespace, selector),
      kube.get<{ metadata?: { annotations?: Record<string, string> }; data?: Record<string, string> }>({
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace,
        name: names.configMap(name),
      }),
      this.users(cluster),
      kube.list<{ metadata: { name: string } }>(
        "v1",
        "Service",
        namespace,
        `${selector},${labelKeys.externalNode}`,
      ),
    ]);
    const statefulSets = stsList.map(observeStatefulSet).filter((s): s is ObservedStatefulSet => !!s);
    const zones = await this.nodeZones(podList.map((p) => p.spec?.nodeName));
    const pods = podList.map((p) => observePod(name, p, zones)).filter((p): p is ObservedPod => !!p);
    const pvcs = pvcList.map((p) => observePvc(name, p)).filter((p): p is ObservedPvc => !!p);

    let admin: BrokerAdmin | undefined;
    let broker: ObservedBroker = { reachable: false, error: "no broker pods yet" };
    if (statefulSets.length > 0 && !cluster.metadata.deletionTimestamp) {
      admin = await this.deps.admin(cluster);
      broker = admin
        ? await admin.observe()
        : {
            reachable: false,
            error: `waiting for the client port's server CA (Secret ${names.clientSecret(name)}, issued by cert-manager)`,
          };
    }
    const operatorCa = await this.deps.operatorCa?.();
    const peerTrust =
      cluster.metadata.deletionTimestamp || !this.deps.peerPki
        ? undefined
        : await this.deps.peerPki.trust(cluster);
    const initialPeers = initialPeersOf(configMap);
    const formed = configMap?.metadata?.annotations?.[annotationKeys.formed] === "true";
    const memberVolumes = memberVolumesOf(configMap);
    const p = plan({
      cluster,
      observed: {
        statefulSets,
        pods,
        pvcs,
        ...(initialPeers ? { initialPeers } : {}),
        ...(formed ? { formed } : {}),
        ...(memberVolumes ? { memberVolumes } : {}),
        broker,
        users,
        brokerServices: brokerServices.map((s) => s.metadata.name),
        ...(operatorCa !== undefined ? { operatorCa } : {}),
        ...(peerTrust !== undefined ? { peerTrust } : {}),
      },
      now: (this.deps.now?.() ?? new Date()).toISOString(),
      ...(this.deps.peerPki ? { enrollmentUrl: this.deps.peerPki.enrollmentUrl } : {}),
    });
    await this.execute(cluster, p, admin);
    if (!cluster.metadata.deletionTimestamp) await this.poolStatuses(cluster, pools, p.status);
    log.debug("reconciled", {
      cluster: key,
      step: p.status.currentStep ?? "none",
      action: p.action?.kind ?? "none",
    });
    return { requeueAfterMs: p.requeueAfterMs };
  }

  private async execute(cluster: GeoBrokerCluster, p: Plan, admin: BrokerAdmin | undefined): Promise<void> {
    const { kube, log, metrics } = this.deps;
    const ns = cluster.metadata.namespace;
    const ref = clusterRef(ns, cluster.metadata.name);
    const involved = { ...ref, ...(cluster.metadata.uid ? { uid: cluster.metadata.uid } : {}) };
    const events = [...p.events];

    if (p.finalizer === "add") {
      await kube.setFinalizers(
        ref,
        [...(cluster.metadata.finalizers ?? []), finalizer],
        cluster.metadata.resourceVersion,
      );
    }
    for (const o of p.apply) {
      try {
        await kube.apply(o);
      } catch (err) {
        throw new Error(`applying ${o.kind} ${ns}/${o.metadata.name}: ${describeApiError(err)}`);
      }
    }
    for (const s of p.scale) await kube.scale(s.ref, s.replicas);
    for (const r of p.resize)
      await kube.patch(r.ref, { spec: { resources: { requests: { storage: r.size } } } });
    for (const d of p.delete) {
      await kube.delete(d);
      log.info("deleted", { cluster: ref.name, object: describeRef(d) });
    }

    const outcome = p.action
      ? await runAction(
          {
            kube,
            log,
            ...(metrics ? { metrics } : {}),
            ...(this.deps.adminAt ? { adminAt: (n: BrokerNode) => this.deps.adminAt!(cluster, n) } : {}),
            now: () => this.now(),
          },
          cluster,
          p,
          p.action,
          admin,
        )
      : undefined;
    if (outcome) {
      p.status = outcome.status;
      events.splice(0, events.length, ...outcome.events);
      if (outcome.error) {
        await this.emit(involved, events);
        throw outcome.error;
      }
    }
    if (!cluster.metadata.deletionTimestamp) {
      await kube.patchStatus({ ...ref, plural: "geobrokerclusters" }, p.status);
      if (metrics) recordClusterMetrics(metrics, ns, ref.name, p.status);
    }
    await this.emit(involved, events);
    if (p.finalizer === "remove") {
      // The peer CA's key lives in the operator's namespace: no owner reference collects it.
      await this.deps.peerPki?.forget(cluster);
      const rest = (cluster.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      await kube.setFinalizers(ref, rest, cluster.metadata.resourceVersion);
      log.info("teardown complete", { cluster: ref.name });
    }
    if (outcome?.requeueSooner) p.requeueAfterMs = Math.min(p.requeueAfterMs, pollMs);
  }

  private async poolStatuses(cluster: GeoBrokerCluster, pools: GeoBrokerNodePool[], status: Plan["status"]) {
    for (const pool of pools.filter((x) => x.spec.clusterRef.name === cluster.metadata.name)) {
      const ref = {
        apiVersion,
        kind: "GeoBrokerNodePool",
        namespace: pool.metadata.namespace,
        name: pool.metadata.name,
      };
      await this.deps.kube.patchStatus(
        { ...ref, plural: "geobrokernodepools" },
        nodePoolStatus(cluster, pool, status),
      );
    }
  }

  /**
   * The zone label of the Kubernetes nodes the pods run on (cluster-scoped reads: `get nodes`). A
   * node that cannot be read is left out: its pods' zones are unknown and nothing is recorded.
   */
  private async nodeZones(nodeNames: (string | undefined)[]): Promise<Map<string, string>> {
    const zones = new Map<string, string>();
    for (const name of new Set(nodeNames.filter((n): n is string => !!n))) {
      try {
        const node = await this.deps.kube.get<{ metadata: { labels?: Record<string, string> } }>({
          apiVersion: "v1",
          kind: "Node",
          namespace: "",
          name,
        });
        const zone = node?.metadata.labels?.[zoneLabel];
        if (zone) zones.set(name, zone);
      } catch (err) {
        this.deps.log.debug("node not readable; its pods' zone is unknown", {
          node: name,
          error: describeApiError(err),
        });
      }
    }
    return zones;
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  private async emit(involved: Parameters<KubeClient["event"]>[0], events: Plan["events"]): Promise<void> {
    for (const e of events) {
      if (await recordEvent(this.deps.kube, this.deps.log, involved, e)) {
        this.deps.metrics?.events.inc({ type: e.type, reason: e.reason });
      }
    }
  }

  private async users(cluster: GeoBrokerCluster) {
    if (cluster.spec.auth?.mode === "none") return [];
    const ns = cluster.metadata.namespace;
    const all = await this.deps.kube.list<GeoBrokerUser>(apiVersion, "GeoBrokerUser", ns);
    const mine = all.filter((u) => u.spec.clusterRef.name === cluster.metadata.name);
    const passwords = new Map<string, string>();
    for (const u of mine) {
      const secretName = passwordSecretName(u);
      const secret = await this.deps.kube.get<{ data?: Record<string, string> }>({
        apiVersion: "v1",
        kind: "Secret",
        namespace: ns,
        name: secretName,
      });
      const value = secret?.data?.[u.spec.passwordSecretRef?.key ?? "password"];
      if (value !== undefined) passwords.set(secretName, Buffer.from(value, "base64").toString("utf8"));
    }
    return usersOf(cluster, mine, passwords, (u, pw) => {
      // scrypt is slow on purpose; the result for an unchanged (user, password) never changes.
      const cacheKey = `${u.metadata.uid}\0${pw}\0${JSON.stringify(u.spec.acls)}`;
      let e = this.hashes.get(cacheKey);
      if (!e) {
        e = userEntry(u, pw);
        this.hashes.set(cacheKey, e);
      }
      return e;
    });
  }
}
