import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { ClusterController } from "../src/controller/cluster-controller.js";
import { silentLogger } from "../src/controller/logger.js";
import { ApiServerClient } from "../src/kube/client.js";
import { preStopDrain } from "../src/model/builders.js";
import { finalizer } from "../src/model/names.js";
import { FakeApiServer } from "./fake-apiserver.js";
import { makeCluster, regions3 } from "./world.js";

// The real ApiServerClient (and so the request shapes @kubernetes/client-node produces) against
// an in-memory API server on 127.0.0.1.

const api = new FakeApiServer();
let kube: ApiServerClient;

before(async () => {
  await api.start();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: api.url, skipTLSVerify: true }],
    users: [{ name: "op", token: "t" }],
    contexts: [{ name: "fake", cluster: "fake", user: "op", namespace: "msg" }],
    currentContext: "fake",
  });
  kube = new ApiServerClient(kc);
});

after(() => api.stop());

describe("ApiServerClient", () => {
  it("server-side applies with the operator's field manager, forcing conflicts", async () => {
    await kube.apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c", namespace: "msg", labels: { a: "b" } },
      data: { k: "v" },
    });
    const req = api.requests.find((r) => r.method === "PATCH")!;
    assert.equal(req.path, "/api/v1/namespaces/msg/configmaps/c");
    assert.equal(req.contentType, "application/apply-patch+yaml");
    assert.equal(req.query.get("fieldManager"), "geobroker-operator");
    assert.equal(req.query.get("force"), "true");
    assert.deepEqual(api.get("configmaps", "msg", "c")?.data, { k: "v" });
  });

  it("gets, lists by label, and treats a missing object as undefined", async () => {
    const got = await kube.get<{ data: Record<string, string> }>({
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: "msg",
      name: "c",
    });
    assert.deepEqual(got?.data, { k: "v" });
    assert.equal(
      await kube.get({ apiVersion: "v1", kind: "ConfigMap", namespace: "msg", name: "nope" }),
      undefined,
    );
    assert.equal((await kube.list("v1", "ConfigMap", "msg", "a=b")).length, 1);
    assert.equal((await kube.list("v1", "ConfigMap", "msg", "a=c")).length, 0);
  });

  it("deletes, ignoring objects already gone; scales with a merge patch", async () => {
    await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: "msg", name: "c" });
    await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: "msg", name: "c" });
    assert.equal(api.get("configmaps", "msg", "c"), undefined);
    api.put({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "demo-eu", namespace: "msg" },
      spec: { replicas: 3, serviceName: "x" },
    });
    await kube.scale({ apiVersion: "apps/v1", kind: "StatefulSet", namespace: "msg", name: "demo-eu" }, 2);
    assert.deepEqual(api.get("statefulsets", "msg", "demo-eu")?.spec, { replicas: 2, serviceName: "x" });
    assert.equal(api.requests.at(-1)?.contentType, "application/merge-patch+json");
  });

  it("reconciles a new cluster end to end through the HTTP API", async () => {
    const cluster = makeCluster({ regions: regions3(1) });
    cluster.metadata.finalizers = [];
    api.put(cluster as never);
    const controller = new ClusterController({ kube, log: silentLogger, admin: async () => undefined });
    await controller.reconcile("msg/demo");
    for (const [plural, name] of [
      ["statefulsets", "demo-eu"],
      ["services", "demo-us-peers"],
      ["configmaps", "demo-config"],
      ["poddisruptionbudgets", "demo"],
      ["certificates", "demo-client"],
      ["secrets", "demo-users"],
    ] as const) {
      assert.ok(api.get(plural, "msg", name), `${plural}/${name} was not applied`);
    }
    // The client's typed serializer must not drop any field the operator sets.
    const sts = api.get("statefulsets", "msg", "demo-eu") as unknown as {
      spec: {
        updateStrategy: unknown;
        persistentVolumeClaimRetentionPolicy: unknown;
        volumeClaimTemplates: unknown[];
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: { args: string[]; lifecycle: unknown; readinessProbe: unknown }[] };
        };
      };
    };
    const container = sts.spec.template.spec.containers[0]!;
    assert.deepEqual(container.args, ["serve", "--config", "/etc/geobroker/config/broker.yaml"]);
    assert.deepEqual(container.lifecycle, { preStop: { exec: { command: preStopDrain } } });
    assert.deepEqual(container.readinessProbe, {
      httpGet: { path: "/readyz", port: "http" },
      periodSeconds: 5,
      failureThreshold: 3,
    });
    assert.deepEqual(sts.spec.updateStrategy, { type: "OnDelete" });
    assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, {
      whenDeleted: "Retain",
      whenScaled: "Retain",
    });
    assert.equal(sts.spec.volumeClaimTemplates.length, 1);
    assert.match(sts.spec.template.metadata.annotations["geobroker.io/config-hash"] ?? "", /^[0-9a-f]{16}$/);
    const users = api.get("secrets", "msg", "demo-users") as unknown as {
      stringData: Record<string, string>;
    };
    assert.deepEqual(Object.keys(users.stringData).sort(), ["acl.yaml", "users.yaml"]);
    const stored = api.get("geobrokerclusters", "msg", "demo") as unknown as {
      metadata: { finalizers: string[] };
      status: { conditions: { type: string; reason: string }[] };
    };
    assert.deepEqual(stored.metadata.finalizers, [finalizer]);
    assert.equal(stored.status.conditions.find((c) => c.type === "Progressing")?.reason, "Creating");
    const statusPatch = api.requests.find((r) => r.path.endsWith("/geobrokerclusters/demo/status"))!;
    assert.equal(statusPatch.contentType, "application/merge-patch+json");
    const event = api.requests.find(
      (r) => r.method === "POST" && r.path === "/api/v1/namespaces/msg/events",
    )!;
    assert.equal((event.body as { reason: string }).reason, "Creating");
    assert.equal(
      (event.body as { involvedObject: { kind: string } }).involvedObject.kind,
      "GeoBrokerCluster",
    );
  });
});
