import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  ClusterService,
  GroupSchema,
  MemberRole,
  NodeSchema,
  NodeState,
} from "../../gen/geobroker/v1/cluster_pb.js";
import type { GeoBrokerCluster } from "../src/api/types.js";
import { adminTransport, ClusterServiceAdmin } from "../src/broker/admin-client.js";
import { ClusterController, type ClusterControllerDeps } from "../src/controller/cluster-controller.js";
import { silentLogger } from "../src/controller/logger.js";
import type { KubeObject } from "../src/model/kube-object.js";
import { finalizer } from "../src/model/names.js";
import { brokerPod, FakeKube, zoneNode } from "./fake-kube.js";
import { makeCluster, regions3 } from "./world.js";

// The thin layers against real wire formats: the admin client against an in-process gRPC
// ClusterService on 127.0.0.1, the controller against an in-memory API server.

interface FakeBroker {
  nodes: { id: string; region: string; state: NodeState; reachable: boolean; zone?: string }[];
  calls: string[];
  refuseDrain: boolean;
  drainDetail: string;
  /** Runs at each GetClusterInfo: the cluster changing between two looks. */
  onInfo?: () => void;
}

const broker: FakeBroker = { nodes: [], calls: [], refuseDrain: false, drainDetail: "" };
function clusterInfo() {
  return {
    clusterId: "demo",
    regions: ["eu", "us", "ap"],
    nodes: broker.nodes.map((n) => create(NodeSchema, n)),
    groups: [
      create(GroupSchema, {
        id: 1n,
        topic: "metadata",
        leaderNodeId: broker.nodes[0]?.id ?? "",
        members: broker.nodes.map((n) => ({
          nodeId: n.id,
          role: n.state === NodeState.LEARNER ? MemberRole.LEARNER : MemberRole.VOTER,
          lagEntries: n.state === NodeState.LEARNER ? 7n : 0n,
        })),
      }),
    ],
  };
}

let server: http2.Http2Server;
let baseUrl = "";
const sessions = new Set<http2.ServerHttp2Session>();

before(async () => {
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(ClusterService, {
        getClusterInfo: () => {
          broker.onInfo?.();
          return clusterInfo();
        },
        cancelDrain: (req) => {
          broker.calls.push(`cancel-drain ${req.nodeId}`);
          return { node: create(NodeSchema, { id: req.nodeId, state: NodeState.VOTER }) };
        },
        addNode: (req) => {
          broker.calls.push(`add ${req.node?.id}${req.node?.zone ? ` zone=${req.node.zone}` : ""}`);
          const known = broker.nodes.find((n) => n.id === req.node?.id);
          if (known) {
            // Adding a member again refreshes its addresses and zone (the broker's metadata state).
            known.zone = req.node!.zone;
            return { node: create(NodeSchema, known) };
          }
          const node = {
            id: req.node!.id,
            region: req.node!.region,
            state: NodeState.LEARNER,
            reachable: true,
          };
          broker.nodes.push(node);
          return { node: create(NodeSchema, node) };
        },
        promoteNode: (req) => {
          broker.calls.push(`promote ${req.nodeId}`);
          return { node: create(NodeSchema, { id: req.nodeId, state: NodeState.VOTER }) };
        },
        drainNode: (req) => {
          broker.calls.push(`drain ${req.nodeId}`);
          if (broker.refuseDrain)
            throw new ConnectError("group 7 has no other replica yet", Code.FailedPrecondition);
          return { drained: false, remainingGroupIds: [7n], detail: broker.drainDetail };
        },
        removeNode: (req) => {
          broker.calls.push(`remove ${req.nodeId}`);
          return {};
        },
        transferLeadership: (req) => {
          broker.calls.push(`transfer ${req.groupId} ${req.targetNodeId}`);
          return { leaderNodeId: req.targetNodeId };
        },
      }),
  });
  server = http2.createServer(handler);
  server.on("session", (s) => sessions.add(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  // Client transports keep their HTTP/2 sessions open; end them so the process can exit.
  for (const s of sessions) s.destroy();
  server.close();
});

describe("broker admin client", () => {
  it("turns cluster info into the planner's view", async () => {
    broker.nodes = [
      { id: "demo-eu-0", region: "eu", state: NodeState.VOTER, reachable: true },
      { id: "demo-eu-1", region: "eu", state: NodeState.LEARNER, reachable: false },
    ];
    const admin = new ClusterServiceAdmin(adminTransport(baseUrl), baseUrl);
    const seen = await admin.observe();
    assert.equal(seen.reachable, true);
    assert.ok(seen.reachable);
    assert.deepEqual(seen.nodes, [
      { id: "demo-eu-0", region: "eu", state: "voter", reachable: true },
      { id: "demo-eu-1", region: "eu", state: "learner", reachable: false },
    ]);
    assert.deepEqual(seen.groups[0]?.members[1], { nodeId: "demo-eu-1", role: "learner", lagEntries: 7n });
    assert.equal(seen.groups[0]?.leader, "demo-eu-0");
  });

  it("reports an unreachable broker with the endpoint and the gRPC code", async () => {
    const dead = "http://127.0.0.1:1";
    const seen = await new ClusterServiceAdmin(adminTransport(dead), dead).observe();
    assert.equal(seen.reachable, false);
    assert.match(seen.reachable ? "" : seen.error, /^http:\/\/127\.0\.0\.1:1: Unavailable/);
  });

  it("sends every membership action", async () => {
    broker.calls = [];
    const admin = new ClusterServiceAdmin(adminTransport(baseUrl), baseUrl);
    const peer = { id: "demo-us-1", region: "us", zone: "", peerAddress: "p:9100", clientAddress: "c:9000" };
    assert.equal(
      (await admin.execute({ kind: "AddNode", node: peer })).summary,
      "added demo-us-1 as learner",
    );
    assert.equal(
      (await admin.execute({ kind: "PromoteNode", nodeId: "demo-us-1" })).summary,
      "promoted demo-us-1: now voter",
    );
    assert.equal(
      (await admin.execute({ kind: "DrainNode", nodeId: "demo-us-1" })).summary,
      "demo-us-1 draining, 1 group(s) left",
    );
    assert.equal(
      (await admin.execute({ kind: "CancelDrain", nodeId: "demo-us-1" })).summary,
      "drain of demo-us-1 cancelled: now voter",
    );
    assert.equal(
      (await admin.execute({ kind: "RemoveNode", nodeId: "demo-us-1" })).summary,
      "removed demo-us-1",
    );
    await admin.execute({
      kind: "TransferLeadership",
      groupId: 3n,
      fromNodeId: "a",
      targetNodeId: "demo-eu-0",
    });
    assert.deepEqual(broker.calls, [
      "add demo-us-1",
      "promote demo-us-1",
      "drain demo-us-1",
      "cancel-drain demo-us-1",
      "remove demo-us-1",
      "transfer 3 demo-eu-0",
    ]);
  });
});

function clusterObject(): GeoBrokerCluster {
  const c = makeCluster({ regions: regions3(1) });
  c.metadata.finalizers = [];
  return c;
}

/** demo-eu-0, demo-us-0 and demo-ap-0 as reachable voters. */
function firstVoters() {
  return ["eu", "us", "ap"].map((r) => ({
    id: `demo-${r}-0`,
    region: r,
    state: NodeState.VOTER,
    reachable: true,
  }));
}

/** The Degraded condition of the last status the controller wrote. */
function lastDegraded(kube: FakeKube) {
  const status = kube.statuses.at(-1) as {
    conditions: { type: string; status: string; reason: string; message: string }[];
  };
  return status.conditions.find((c) => c.type === "Degraded")!;
}

/** A formed 3-region cluster (one pod each, all ready) behind a controller talking to the fake broker. */
async function runningCluster(adminAt?: ClusterControllerDeps["adminAt"]) {
  const kube = new FakeKube();
  const cluster = makeCluster({ regions: regions3(1) });
  kube.put(cluster as unknown as KubeObject);
  const controller = new ClusterController({
    kube,
    log: silentLogger,
    admin: async () => new ClusterServiceAdmin(adminTransport(baseUrl), baseUrl),
    ...(adminAt ? { adminAt } : {}),
  });
  await controller.reconcile("msg/demo"); // bootstrap: StatefulSets and ConfigMap exist now
  for (const o of [...kube.objects.values()].filter((x) => x.kind === "StatefulSet")) {
    const region = o.metadata.labels!["geobroker.io/region"]!;
    (o as { status?: unknown }).status = {
      readyReplicas: 1,
      updatedReplicas: 1,
      updateRevision: "r1",
      observedGeneration: 1,
    };
    (o.metadata as { generation?: number }).generation = 1;
    kube.put(brokerPod(region, "r1"));
  }
  return { kube, controller };
}

describe("cluster controller", () => {
  it("creates a new cluster: finalizer, every object applied, status and an event", async () => {
    const kube = new FakeKube();
    kube.put(clusterObject() as unknown as KubeObject);
    const controller = new ClusterController({ kube, log: silentLogger, admin: async () => undefined });
    const r = await controller.reconcile("msg/demo");
    assert.deepEqual(kube.finalizers, [[finalizer]]);
    assert.ok(kube.applied.includes("StatefulSet/demo-eu"));
    assert.ok(kube.applied.includes("ConfigMap/demo-config"));
    const status = kube.statuses[0] as { conditions: { type: string; reason: string }[] };
    assert.equal(status.conditions.find((c) => c.type === "Progressing")?.reason, "Creating");
    assert.equal(kube.events[0]?.reason, "Creating");
    assert.equal(r.requeueAfterMs, 5_000);
  });

  it("reads the broker, runs the planned action and records it", async () => {
    const { kube, controller } = await runningCluster();
    broker.calls = [];
    broker.nodes = firstVoters();
    broker.nodes.push({ id: "demo-us-1", region: "us", state: NodeState.DRAINING, reachable: true });
    kube.events = [];
    await controller.reconcile("msg/demo");
    assert.deepEqual(broker.calls, ["drain demo-us-1"]);

    // The broker is not ready for the next step: a Warning event, no error, a poll soon.
    broker.refuseDrain = true;
    kube.events = [];
    kube.statuses = [];
    const r = await controller.reconcile("msg/demo");
    assert.equal(kube.events[0]?.type, "Warning");
    assert.equal(kube.events[0]?.reason, "DrainNodeFailed");
    assert.match(kube.events[0]!.message, /FailedPrecondition: group 7 has no other replica yet/);
    assert.equal(r.requeueAfterMs, 5_000);
    // The broker's words are in the status; the next poll with the same answer records no Warning.
    const status = kube.statuses.at(-1) as { currentStep: string };
    assert.match(status.currentStep, /the broker says: FailedPrecondition: group 7 has no other replica yet/);
    const gbcObject = [...kube.objects.values()].find((o) => o.kind === "GeoBrokerCluster")!;
    (gbcObject as { status?: unknown }).status = status;
    kube.events = [];
    await controller.reconcile("msg/demo");
    broker.refuseDrain = false;
    assert.deepEqual(kube.events, []);
  });

  it("reads the broker again right before RemoveNode and keeps the node when a majority would go", async () => {
    const { kube, controller } = await runningCluster();
    // Five voters; demo-us-1 (no longer in the spec) is drained and may go while all answer.
    broker.nodes = firstVoters();
    broker.nodes.push(
      { id: "demo-us-1", region: "us", state: NodeState.DRAINED, reachable: true },
      { id: "demo-ap-1", region: "ap", state: NodeState.VOTER, reachable: true },
    );
    // Between the controller's first look and the removal, two voters stop answering.
    let looks = 0;
    broker.onInfo = () => {
      if (++looks === 2)
        for (const n of broker.nodes) if (n.id === "demo-eu-0" || n.id === "demo-ap-1") n.reachable = false;
    };
    broker.calls = [];
    kube.events = [];
    kube.statuses = [];
    await controller.reconcile("msg/demo");
    broker.onInfo = undefined;
    assert.deepEqual(broker.calls, []);
    const degraded = lastDegraded(kube);
    assert.equal(degraded.status, "True");
    assert.equal(degraded.reason, "QuorumAtRisk");
    assert.match(degraded.message, /not removing demo-us-1/);
    assert.equal(kube.events[0]?.reason, "QuorumAtRisk");
  });

  it("confirms a removal by reading the membership back from a metadata voter, not the cached session", async () => {
    // The cached session answers RemoveNode with success; the metadata leader (another server)
    // still lists the node: the removal is not taken as done, and is checked again soon.
    const dialled: string[] = [];
    let voterLists = true;
    const voter = {
      observe: async () => ({
        reachable: true as const,
        nodes: [
          ...firstVoters(),
          ...(voterLists ? [{ id: "demo-us-1", region: "us", state: NodeState.DRAINED }] : []),
        ].map((n) => ({ id: n.id, region: n.region, state: "voter" as const, reachable: true })),
        groups: [],
      }),
      execute: async () => ({ summary: "" }),
      close: () => {},
    };
    const { kube, controller } = await runningCluster(async (_c, node) => {
      dialled.push(node.id);
      return voter;
    });
    broker.nodes = firstVoters();
    broker.nodes.push({ id: "demo-us-1", region: "us", state: NodeState.DRAINED, reachable: true });
    broker.calls = [];
    kube.events = [];
    kube.statuses = [];
    const r = await controller.reconcile("msg/demo");
    assert.deepEqual(broker.calls, ["remove demo-us-1"]);
    assert.deepEqual(dialled, ["demo-eu-0"], "confirmed through the metadata leader");
    assert.equal(kube.events[0]?.reason, "RemovalUnconfirmed");
    const status = kube.statuses.at(-1) as { currentStep: string };
    assert.match(
      status.currentStep,
      /RemoveNode demo-us-1 answered success, but metadata voter demo-eu-0 still lists it/,
    );
    assert.equal(r.requeueAfterMs, 5_000);

    voterLists = false;
    kube.events = [];
    await controller.reconcile("msg/demo");
    assert.deepEqual(
      kube.events.filter((e) => e.reason === "RemovalUnconfirmed"),
      [],
      "confirmed once the voter no longer lists it",
    );
  });

  it("records each member's zone from the topology label of the Kubernetes node its pod runs on", async () => {
    const { kube, controller } = await runningCluster();
    for (const r of ["eu", "us", "ap"]) kube.put(zoneNode(`kube-${r}-a`, `${r}-a`));
    broker.nodes = firstVoters();
    broker.calls = [];
    await controller.reconcile("msg/demo");
    assert.deepEqual(broker.calls, ["add demo-eu-0 zone=eu-a"]);
    await controller.reconcile("msg/demo");
    await controller.reconcile("msg/demo");
    assert.deepEqual(broker.calls, [
      "add demo-eu-0 zone=eu-a",
      "add demo-us-0 zone=us-a",
      "add demo-ap-0 zone=ap-a",
    ]);
    await controller.reconcile("msg/demo");
    assert.equal(broker.calls.length, 3, "recorded zones are not recorded again");
  });

  it("reports a stuck drain as Degraded in the broker's own words, once", async () => {
    const { kube, controller } = await runningCluster();
    broker.nodes = firstVoters();
    broker.nodes.push({ id: "demo-us-1", region: "us", state: NodeState.DRAINING, reachable: true });
    broker.drainDetail =
      "group(s) 7 have no other node to move to without losing region spread: add a node first";
    kube.statuses = [];
    kube.events = [];
    await controller.reconcile("msg/demo");
    const degraded = lastDegraded(kube);
    assert.equal(degraded.status, "True");
    assert.equal(degraded.reason, "DrainStuck");
    assert.match(degraded.message, /no other node to move to without losing region spread/);
    assert.equal(kube.events.filter((e) => e.reason === "DrainStuck").length, 1);
    // The next poll finds the same words in the status it wrote: no second Warning.
    const cluster = [...kube.objects.values()].find((o) => o.kind === "GeoBrokerCluster")!;
    (cluster as { status?: unknown }).status = kube.statuses.at(-1);
    kube.events = [];
    await new Promise((r) => setTimeout(r, 5));
    await controller.reconcile("msg/demo");
    broker.drainDetail = "";
    assert.equal(kube.events.filter((e) => e.reason === "DrainStuck").length, 0);
    assert.equal(
      (lastDegraded(kube) as { lastTransitionTime?: string }).lastTransitionTime,
      (degraded as { lastTransitionTime?: string }).lastTransitionTime,
      "the block did not start again",
    );
  });

  it("does nothing for a cluster that no longer exists", async () => {
    const kube = new FakeKube();
    const controller = new ClusterController({ kube, log: silentLogger, admin: async () => undefined });
    assert.deepEqual(await controller.reconcile("msg/gone"), {});
    assert.deepEqual(kube.applied, []);
  });
});
