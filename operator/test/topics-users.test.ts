import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { clone, create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { type Topic, TopicSchema, TopicService } from "../../gen/geobroker/v1/topic_pb.js";
import type { GeoBrokerTopic, GeoBrokerUser } from "../src/api/types.js";
import { silentLogger } from "../src/controller/logger.js";
import { TopicController, topicFinalizer } from "../src/controller/topic-controller.js";
import { UserController } from "../src/controller/user-controller.js";
import type { KubeObject } from "../src/model/kube-object.js";
import { FakeKube } from "./fake-kube.js";
import { makeCluster, regions3 } from "./world.js";

// The topic controller against an in-process TopicService on 127.0.0.1, the user controller
// against the in-memory API server.

const topics = new Map<string, Topic>();
const calls: string[] = [];
const sessions = new Set<http2.ServerHttp2Session>();
let server: http2.Http2Server;
let baseUrl = "";

before(async () => {
  server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(TopicService, {
          getTopic: (req) => {
            const t = topics.get(req.name);
            if (!t) throw new ConnectError(`topic ${req.name} not found`, Code.NotFound);
            return { topic: t };
          },
          createTopic: (req) => {
            calls.push(`create ${req.topic?.name} p=${req.topic?.partitions}`);
            const t = clone(TopicSchema, req.topic ?? create(TopicSchema));
            t.partitions ||= 1;
            t.replicationFactor ||= 3;
            topics.set(t.name, t);
            return { topic: t };
          },
          updateTopic: (req) => {
            calls.push(`update ${req.name} home=${req.homeRegion} maxAge=${req.retention?.maxAgeMs}`);
            const t = clone(TopicSchema, topics.get(req.name) ?? create(TopicSchema, { name: req.name }));
            t.retention = req.retention;
            t.homeRegion = req.homeRegion ?? "";
            topics.set(req.name, t);
            return { topic: t };
          },
          deleteTopic: (req) => {
            calls.push(`delete ${req.name}`);
            topics.delete(req.name);
            return {};
          },
          listTopics: () => ({ topics: [] }),
        }),
    }),
  );
  server.on("session", (s) => sessions.add(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  for (const s of sessions) s.destroy();
  server.close();
});

function topicObject(
  spec: Partial<GeoBrokerTopic["spec"]>,
  extra: Partial<GeoBrokerTopic["metadata"]> = {},
): GeoBrokerTopic {
  return {
    apiVersion: "geobroker.io/v1alpha1",
    kind: "GeoBrokerTopic",
    metadata: { name: "orders", namespace: "msg", uid: "t1", generation: 1, ...extra },
    spec: { clusterRef: { name: "demo" }, ...spec },
  };
}

describe("topic controller", () => {
  it("creates, then updates retention in place, then reports a partition change as a conflict", async () => {
    const kube = new FakeKube();
    kube.put(makeCluster({ regions: regions3() }) as unknown as KubeObject);
    const transport = createGrpcTransport({ baseUrl });
    const controller = new TopicController({ kube, log: silentLogger, transport: async () => transport });

    kube.put(topicObject({ partitions: 2, homeRegion: "eu" }) as unknown as KubeObject);
    await controller.reconcile("msg/orders");
    assert.deepEqual(calls, ["create orders p=2"]);
    assert.equal(kube.events.at(-1)?.reason, "TopicCreated");

    kube.put(
      topicObject({
        partitions: 2,
        homeRegion: "us",
        retention: { maxAgeMs: 60_000 },
      }) as unknown as KubeObject,
    );
    await controller.reconcile("msg/orders");
    assert.equal(calls.at(-1), "update orders home=us maxAge=60000");

    kube.put(
      topicObject({
        partitions: 4,
        homeRegion: "us",
        retention: { maxAgeMs: 60_000 },
      }) as unknown as KubeObject,
    );
    const r = await controller.reconcile("msg/orders");
    assert.equal(calls.length, 2);
    const status = kube.statuses.at(-1) as {
      conditions: { status: string; reason: string; message: string }[];
    };
    assert.equal(status.conditions[0]?.reason, "Conflict");
    assert.match(status.conditions[0]!.message, /partitions: the topic has 2, the spec asks 4/);
    assert.equal(r.requeueAfterMs, 60_000);
  });

  it("deletes the broker topic on removal only with deleteOnRemoval, then releases the finalizer", async () => {
    const kube = new FakeKube();
    kube.put(makeCluster({ regions: regions3() }) as unknown as KubeObject);
    const transport = createGrpcTransport({ baseUrl });
    const controller = new TopicController({ kube, log: silentLogger, transport: async () => transport });
    topics.set("audit", create(TopicSchema, { name: "audit", partitions: 1, replicationFactor: 3 }));
    kube.put(
      topicObject({ topicName: "audit", deleteOnRemoval: true }, { name: "audit" }) as unknown as KubeObject,
    );
    await controller.reconcile("msg/audit");
    assert.deepEqual(kube.finalizers.at(-1), [topicFinalizer]);
    kube.put(
      topicObject(
        { topicName: "audit", deleteOnRemoval: true },
        { name: "audit", deletionTimestamp: "2025-01-01T00:00:00Z", finalizers: [topicFinalizer] },
      ) as unknown as KubeObject,
    );
    await controller.reconcile("msg/audit");
    assert.equal(calls.at(-1), "delete audit");
    assert.equal(topics.has("audit"), false);
    assert.deepEqual(kube.finalizers.at(-1), []);
  });

  it("waits with a clear status while the cluster does not exist", async () => {
    const kube = new FakeKube();
    kube.put(topicObject({}) as unknown as KubeObject);
    const controller = new TopicController({ kube, log: silentLogger, transport: async () => undefined });
    await controller.reconcile("msg/orders");
    const status = kube.statuses.at(-1) as { conditions: { reason: string; message: string }[] };
    assert.equal(status.conditions[0]?.reason, "ClusterNotReady");
    assert.equal(status.conditions[0]?.message, "GeoBrokerCluster demo does not exist");
  });
});

describe("user controller", () => {
  function userObject(spec: Partial<GeoBrokerUser["spec"]> = {}): GeoBrokerUser {
    return {
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerUser",
      metadata: { name: "alice", namespace: "msg", uid: "u1", generation: 3 },
      spec: {
        clusterRef: { name: "demo" },
        acls: [{ topicPattern: "orders.*", permissions: ["publish"] }],
        ...spec,
      },
    };
  }

  it("generates a password Secret once, owned by the user, and enqueues the cluster", async () => {
    const kube = new FakeKube();
    kube.put(makeCluster({ regions: regions3() }) as unknown as KubeObject);
    kube.put(userObject() as unknown as KubeObject);
    const enqueued: string[] = [];
    const controller = new UserController({
      kube,
      log: silentLogger,
      enqueueCluster: (k) => enqueued.push(k),
    });
    await controller.reconcile("msg/alice");
    const secret = (await kube.get({
      apiVersion: "v1",
      kind: "Secret",
      namespace: "msg",
      name: "alice-password",
    })) as unknown as {
      stringData: { password: string };
      metadata: { ownerReferences: { kind: string }[] };
    };
    assert.ok(secret.stringData.password.length >= 24);
    assert.equal(secret.metadata.ownerReferences[0]?.kind, "GeoBrokerUser");
    assert.deepEqual(enqueued, ["msg/demo"]);
    await controller.reconcile("msg/alice");
    assert.equal(kube.applied.filter((a) => a === "Secret/alice-password").length, 1);
    const status = kube.statuses.at(-1) as {
      secretName: string;
      observedGeneration: number;
      conditions: { status: string }[];
    };
    assert.equal(status.secretName, "alice-password");
    assert.equal(status.observedGeneration, 3);
    assert.equal(status.conditions[0]?.status, "True");
  });

  it("reports a missing user-provided Secret instead of generating one", async () => {
    const kube = new FakeKube();
    kube.put(userObject({ passwordSecretRef: { name: "alice-creds" } }) as unknown as KubeObject);
    const controller = new UserController({ kube, log: silentLogger, enqueueCluster: () => {} });
    await controller.reconcile("msg/alice");
    assert.deepEqual(kube.applied, []);
    const status = kube.statuses.at(-1) as { conditions: { reason: string; message: string }[] };
    assert.equal(status.conditions[0]?.reason, "SecretMissing");
    assert.match(status.conditions[0]!.message, /Secret alice-creds \(key password\) does not exist/);
  });
});
