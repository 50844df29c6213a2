import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClusterService, NodeSchema, NodeState } from "../../../gen/geobroker/v1/cluster_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { type ClientServer, startClientServer } from "../../src/api/client-server.js";
import { advertisedAddress } from "../../src/api/external-listener.js";
import type { ExternalListenerConfig } from "../../src/config/config.js";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { errorDetailsOf, notLeader } from "../../src/engine/errors.js";
import { defaultInputLimits } from "../../src/engine/limits.js";
import { NodeMetrics } from "../../src/observability/metrics.js";
import { anonymousAuthenticator } from "../../src/security/authenticator.js";
import { MemoryEngine } from "../support/memory-engine.js";

// Issue 21: clients outside Kubernetes reach each broker through its own LoadBalancer or NodePort
// Service. What the broker hands them (the node list, leader hints in errors and in PublishStream's
// per-message errors) must be those outside addresses, not the in-cluster names they cannot resolve.
// One server, two ports: the client port answers with in-cluster addresses, the external one with
// the advertised ones.

const external: ExternalListenerConfig = {
  port: 0,
  advertised: {
    eu: { host: "{node}.eu.example.com", port: 443 },
    us: { host: "nodes.us.example.com", portBase: 31000 },
  },
};

const nodes = [
  { id: "demo-eu-0", region: "eu" },
  { id: "demo-us-2", region: "us" },
  { id: "demo-ap-0", region: "ap" },
].map((n) => ({ ...n, clientAddress: `${n.id}.demo-${n.region}-peers.msg.svc:9000` }));

let server: ClientServer;

before(async () => {
  const engine = new MemoryEngine();
  // Every publish lands on a node that does not lead the partition: the leader is demo-us-2.
  engine.publish = async () => {
    throw notLeader("partition orders/0", {
      nodeId: "demo-us-2",
      region: "us",
      clientAddress: nodes[1]!.clientAddress,
    });
  };
  server = await startClientServer({
    host: "127.0.0.1",
    port: 0,
    engine,
    limits: defaultInputLimits,
    authenticator: anonymousAuthenticator,
    health: { live: () => true, ready: () => ({ ready: true, reason: "" }) },
    observer: new NodeMetrics({ node: "demo-eu-0" }),
    extraRoutes: (router) =>
      router.service(ClusterService, {
        getClusterInfo: () => ({
          clusterId: "demo",
          regions: ["ap", "eu", "us"],
          nodes: nodes.map((n) => create(NodeSchema, { ...n, state: NodeState.VOTER, reachable: true })),
        }),
      }),
    external: {
      port: external.port,
      addressOf: (id, region) => advertisedAddress(external, id, region),
    },
  });
});

after(() => server.close());

const transport = (port: number) => createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("the call succeeded");
}

describe("the external listener", () => {
  it("lists every node at its outside address, and in-cluster on the client port", async () => {
    const outside = await createClient(ClusterService, transport(server.externalPort!)).getClusterInfo({});
    assert.deepEqual(
      outside.nodes.map((n) => [n.id, n.clientAddress]),
      [
        ["demo-eu-0", "demo-eu-0.eu.example.com:443"],
        ["demo-us-2", "nodes.us.example.com:31002"],
        // Region ap advertises nothing: no address an outside client could not reach anyway.
        ["demo-ap-0", ""],
      ],
    );
    const inside = await createClient(ClusterService, transport(server.port)).getClusterInfo({});
    assert.deepEqual(
      inside.nodes.map((n) => n.clientAddress),
      nodes.map((n) => n.clientAddress),
    );
  });

  it("gives outside clients a leader hint they can dial, in a unary error and on a stream", async () => {
    const outside = createClient(PublishService, transport(server.externalPort!));
    const err = await refusal(outside.publish({ topic: "orders", body: new Uint8Array([1]) }));
    assert.equal(err.code, Code.Unavailable);
    assert.deepEqual(errorDetailsOf(err).leader, {
      nodeId: "demo-us-2",
      region: "us",
      clientAddress: "nodes.us.example.com:31002",
    });
    async function* one() {
      yield { sequence: 1n, request: { topic: "orders", body: new Uint8Array([1]) } };
    }
    let answers = 0;
    for await (const res of outside.publishStream(one())) {
      answers++;
      assert.equal(res.result.case, "error");
      const info = res.result.case === "error" ? res.result.value.info : undefined;
      assert.equal(info?.leader?.clientAddress, "nodes.us.example.com:31002");
    }
    assert.equal(answers, 1);
    const inside = createClient(PublishService, transport(server.port));
    const internal = await refusal(inside.publish({ topic: "orders", body: new Uint8Array([1]) }));
    assert.equal(errorDetailsOf(internal).leader?.clientAddress, nodes[1]!.clientAddress);
  });
});

describe("advertisedAddress and the external section's validation", () => {
  it("forms the address from the node id's ordinal and refuses ids without one where it is needed", () => {
    assert.equal(advertisedAddress(external, "demo-us-10", "us"), "nodes.us.example.com:31010");
    assert.equal(advertisedAddress(external, "standalone", "us"), "");
    assert.equal(advertisedAddress(external, "standalone", "eu"), "standalone.eu.example.com:443");
  });

  it("names the field of each problem", () => {
    const base = {
      nodeId: "n-0",
      region: "eu",
      dataDir: "/tmp/x",
      peers: [{ id: "n-0", region: "eu", peerAddress: "a:1", clientAddress: "a:2" }],
    };
    const problems = (x: unknown) => {
      try {
        resolveConfig([{ ...base, external: x }]);
        return [];
      } catch (err) {
        return err instanceof ConfigError
          ? err.problems.filter((p) => p.startsWith("external"))
          : [String(err)];
      }
    };
    assert.deepEqual(problems({ port: 9002, advertised: { eu: { host: "{node}.x", port: 443 } } }), []);
    assert.match(problems({ port: 9000, advertised: {} })[0]!, /external\.port: .*no other port uses/);
    assert.match(
      problems({ port: 9002, advertised: { eu: { host: "h", port: 1, portBase: 2 } } })[0]!,
      /external\.advertised\.eu: set exactly one of port .* or portBase/,
    );
    assert.match(
      problems({ port: 9002, advertised: { eu: { port: 1 } } })[0]!,
      /external\.advertised\.eu\.host/,
    );
  });
});
