import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GeoBrokerUser } from "../src/api/types.js";
import type { BrokerAdmin } from "../src/broker/admin-client.js";
import { ClusterController } from "../src/controller/cluster-controller.js";
import { silentLogger } from "../src/controller/logger.js";
import { TopicController } from "../src/controller/topic-controller.js";
import { UserController } from "../src/controller/user-controller.js";
import type { EventInput } from "../src/kube/client.js";
import type { KubeObject, ObjectRef } from "../src/model/kube-object.js";
import { finalizer } from "../src/model/names.js";
import { PkiStore } from "../src/pki/pki-store.js";
import type { ObservedBroker } from "../src/plan/observed.js";
import { enrollmentDeps, watched } from "../src/runtime.js";
import { brokerPod, FakeKube, zoneNode } from "./fake-kube.js";
import { fakeLeaseApi, startedLock } from "./fake-lease.js";
import { type Rule, template } from "./helm-chart.js";
import { makeCluster, regions3 } from "./world.js";

// Least privilege, checked both ways: the operator's controllers run through the situations that
// make them call the API server (create, scale, roll, shrink, grow volumes, remove a region, tear
// down, users, topics, leader election, informers), every call is recorded as the RBAC verb it
// needs, and the chart must grant exactly that set: a missing grant is a 403 in production, an
// extra one is privilege nothing uses.

const resources: Record<string, { group: string; plural: string }> = {
  GeoBrokerCluster: { group: "geobroker.io", plural: "geobrokerclusters" },
  GeoBrokerTopic: { group: "geobroker.io", plural: "geobrokertopics" },
  GeoBrokerUser: { group: "geobroker.io", plural: "geobrokerusers" },
  GeoBrokerNodePool: { group: "geobroker.io", plural: "geobrokernodepools" },
  StatefulSet: { group: "apps", plural: "statefulsets" },
  Pod: { group: "", plural: "pods" },
  PersistentVolumeClaim: { group: "", plural: "persistentvolumeclaims" },
  Service: { group: "", plural: "services" },
  ConfigMap: { group: "", plural: "configmaps" },
  Secret: { group: "", plural: "secrets" },
  Event: { group: "", plural: "events" },
  PodDisruptionBudget: { group: "policy", plural: "poddisruptionbudgets" },
  Issuer: { group: "cert-manager.io", plural: "issuers" },
  Certificate: { group: "cert-manager.io", plural: "certificates" },
  Lease: { group: "coordination.k8s.io", plural: "leases" },
  Node: { group: "", plural: "nodes" },
  TokenReview: { group: "authentication.k8s.io", plural: "tokenreviews" },
};

const used = new Set<string>();
function use(kind: string, verb: string, sub = "") {
  const r = resources[kind];
  assert.ok(r, `no resource mapping for ${kind}`);
  used.add(`${r.group}/${r.plural}${sub}:${verb}`);
}

/** The KubeClient's methods as the RBAC verbs the API server checks for them. */
class RecordingKube extends FakeKube {
  override async apply(o: KubeObject) {
    // Server-side apply creates a missing object: both verbs are checked.
    use(o.kind, "create");
    use(o.kind, "patch");
    // blockOwnerDeletion on an owner reference needs update on the owner's finalizers
    // (OwnerReferencesPermissionEnforcement).
    for (const ref of o.metadata.ownerReferences ?? [])
      if (ref.blockOwnerDeletion) use(ref.kind, "update", "/finalizers");
    await super.apply(o);
  }
  override async delete(r: ObjectRef) {
    use(r.kind, "delete");
    await super.delete(r);
  }
  override async scale() {
    use("StatefulSet", "patch");
  }
  override async patch(r: ObjectRef, body: Record<string, unknown>) {
    use(r.kind, "patch");
    await super.patch(r, body);
  }
  override async create<T>(o: KubeObject) {
    use(o.kind, "create");
    return super.create<T>(o);
  }
  override async get<T>(r: ObjectRef) {
    use(r.kind, "get");
    return super.get<T>(r);
  }
  override async list<T>(a: string, kind: string, ns: string, selector?: string) {
    use(kind, "list");
    return super.list<T>(a, kind, ns, selector);
  }
  override async patchStatus(r: ObjectRef, status: unknown) {
    use(r.kind, "patch", "/status");
    await super.patchStatus(r, status);
  }
  override async setFinalizers(r: ObjectRef, f: string[]) {
    use(r.kind, "patch");
    await super.setFinalizers(r, f);
  }
  override async event(i: unknown, e: EventInput) {
    use("Event", "create");
    await super.event(i, e);
  }
}

const labels = (region: string, extra: Record<string, string> = {}) => ({
  "geobroker.io/cluster": "demo",
  "geobroker.io/region": region,
  ...extra,
});

/** A formed cluster: StatefulSets on revision r1 while r2 is current (a rolling update is due). */
function formedWorld(kube: FakeKube) {
  const cluster = makeCluster({ regions: regions3(1) });
  kube.put(cluster as unknown as KubeObject);
  for (const region of ["eu", "us", "ap", "sa"]) {
    kube.put({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: {
        name: `demo-${region}`,
        namespace: "msg",
        labels: labels(region),
        generation: 1,
      } as KubeObject["metadata"],
      spec: {
        replicas: region === "sa" ? 0 : 1,
        volumeClaimTemplates: [{ spec: { resources: { requests: { storage: "10Gi" } } } }],
      },
      status: { readyReplicas: 1, updatedReplicas: 0, updateRevision: "r2", observedGeneration: 1 },
    });
    if (region === "sa") continue;
    kube.put(brokerPod(region, "r1"));
    kube.put(zoneNode(`kube-${region}-a`, `${region}-a`));
    // A claim smaller than the spec (grown) and a claim of a removed node (reclaimPolicy Delete).
    for (const [ordinal, size] of [
      [0, "5Gi"],
      [1, "10Gi"],
    ] as const)
      kube.put({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: `data-demo-${region}-${ordinal}`, namespace: "msg", labels: labels(region) },
        spec: { resources: { requests: { storage: size } } },
      });
  }
  kube.put({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "demo-config", namespace: "msg", annotations: { "geobroker.io/formed": "true" } },
    data: { "broker.yaml": "peers: []\n" },
  });
  return cluster;
}

function brokerOf(ids: string[]): BrokerAdmin {
  const observed: ObservedBroker = {
    reachable: true,
    nodes: ids.map((id) => ({ id, region: id.split("-")[1]!, state: "voter", reachable: true })),
    groups: [
      {
        id: 1n,
        topic: "metadata",
        leader: ids[0]!,
        members: ids.map((nodeId) => ({ nodeId, role: "voter", lagEntries: 0n })),
      },
    ],
    topics: [],
  };
  return { observe: async () => observed, execute: async () => ({ summary: "ok" }), close() {} };
}

describe("RBAC: the chart grants exactly what the code calls", { timeout: 16 * 60_000 }, () => {
  it("records every verb the controllers, informers and leader election use, and compares", async () => {
    // 1. A new cluster: every object applied, status, finalizer, events; users' passwords read.
    const fresh = new RecordingKube();
    const c = makeCluster({ regions: regions3(1) });
    c.metadata.finalizers = [];
    fresh.put(c as unknown as KubeObject);
    const user: GeoBrokerUser = {
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerUser",
      metadata: { name: "alice", namespace: "msg", uid: "u1", generation: 1 },
      spec: { clusterRef: { name: "demo" }, acls: [{ topicPattern: "orders", permissions: ["publish"] }] },
    };
    fresh.put(user as unknown as KubeObject);
    fresh.put({
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerNodePool",
      metadata: { name: "demo-eu", namespace: "msg" },
      spec: { clusterRef: { name: "demo" }, region: "eu", replicas: 2 },
    });
    await new ClusterController({ kube: fresh, log: silentLogger, admin: async () => undefined }).reconcile(
      "msg/demo",
    );
    // 2. The user controller generates the password Secret (owned by the user).
    await new UserController({ kube: fresh, log: silentLogger, enqueueCluster: () => {} }).reconcile(
      "msg/alice",
    );

    // 3. A formed cluster: volumes grow, a removed region's objects go, a pod restarts.
    const formed = new RecordingKube();
    const cluster = formedWorld(formed);
    cluster.spec = { ...cluster.spec, storage: { size: "10Gi", reclaimPolicy: "Delete" } };
    formed.put(cluster as unknown as KubeObject);
    const controller = new ClusterController({
      kube: formed,
      log: silentLogger,
      admin: async () => brokerOf(["demo-eu-0", "demo-us-0", "demo-ap-0"]),
    });
    await controller.reconcile("msg/demo");
    assert.ok(
      formed.deleted.includes("Pod/demo-eu-0") || formed.deleted.some((d) => d.startsWith("Pod/")),
      formed.deleted.join(","),
    );
    assert.ok(formed.deleted.includes("Service/demo-sa-peers"), formed.deleted.join(","));
    assert.ok(formed.deleted.includes("PersistentVolumeClaim/data-demo-eu-1"), formed.deleted.join(","));
    assert.ok(
      formed.patched.some((p) => p.startsWith("PersistentVolumeClaim/data-demo-eu-0")),
      formed.patched.join(","),
    );

    // 4. Teardown: StatefulSets, then volumes, then certificates, issuers and their Secrets.
    const gone = new RecordingKube();
    const dying = makeCluster({ regions: regions3(1), storage: { size: "10Gi", reclaimPolicy: "Delete" } });
    dying.metadata.deletionTimestamp = "2025-01-01T00:00:00Z";
    dying.metadata.finalizers = [finalizer];
    gone.put(dying as unknown as KubeObject);
    await new ClusterController({ kube: gone, log: silentLogger, admin: async () => undefined }).reconcile(
      "msg/demo",
    );
    assert.ok(gone.deleted.includes("Secret/demo-ca"), gone.deleted.join(","));

    // 5. Topics: the finalizer, the status, the cluster read (the broker is not reachable here).
    const topics = new RecordingKube();
    topics.put(makeCluster({ regions: regions3(1) }) as unknown as KubeObject);
    topics.put({
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerTopic",
      metadata: { name: "orders", namespace: "msg", uid: "t1", generation: 1 } as KubeObject["metadata"],
      spec: { clusterRef: { name: "demo" }, deleteOnRemoval: true },
    });
    await new TopicController({
      kube: topics,
      log: silentLogger,
      transport: async () => undefined,
    }).reconcile("msg/orders");

    // 6. Informers list and watch; 7. leader election reads, creates and renews its Lease.
    for (const w of Object.values(watched)) for (const verb of ["list", "watch"]) use(w.kind, verb);
    const api = fakeLeaseApi(undefined, (verb) => use("Lease", verb));
    const lock = startedLock(api, 15, 20);
    await new Promise((r) => setTimeout(r, 150));
    lock.stop();

    // 8. The operator's keys in its namespace, and the enrollment endpoint's reads.
    const pkiKube = new RecordingKube();
    const pki = new PkiStore(pkiKube, {
      namespace: "geobroker-system",
      secretName: "pki",
      enrollmentService: "geobroker-operator",
    });
    await pki.identityCa();
    await pki.peerCa({ namespace: "msg", name: "demo", uid: "u1" });
    await pki.deletePeerCa({ namespace: "msg", name: "demo", uid: "u1" });
    const deps = enrollmentDeps(pkiKube, pki, silentLogger);
    await deps.reviewToken("token");
    await deps.pod("msg", "demo-eu-0");
    await deps.cluster("msg", "demo");

    const docs = template();
    const granted = new Set<string>();
    for (const d of docs.filter((x) => x.kind === "ClusterRole" || x.kind === "Role")) {
      for (const r of (d as unknown as { rules: Rule[] }).rules)
        for (const g of r.apiGroups)
          for (const res of r.resources) for (const v of r.verbs) granted.add(`${g}/${res}:${v}`);
    }
    const missing = [...used].filter((u) => !granted.has(u)).sort();
    const unused = [...granted].filter((g) => !used.has(g)).sort();
    assert.deepEqual(
      { missing, unused },
      { missing: [], unused: [] },
      "grants differ from what the code calls",
    );
  });
});
