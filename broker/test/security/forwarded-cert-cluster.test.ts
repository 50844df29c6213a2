import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify } from "yaml";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { forwardedForHeader } from "../../src/engine/engine.js";
import { eventually } from "../support/eventually.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { authority, leaf, makePki, type Pem, type Pki, serverExt } from "./tls-fixtures.js";

// The Kubernetes operator's case: a caller authenticated ONLY by its client certificate (no
// authorization header) calls nodes that do not lead the group its call needs. The node forwards the
// call to the leader's client port with its peer certificate and the caller's name in
// x-geobroker-forwarded-for; the leader authorizes the caller by that name. The peer CA differs from
// the client CA, so the client port must trust both. As the operator lays it out, the client ports'
// server certificates come from a third CA (tls.client.serverCa), which a forwarding node verifies
// the leader against.

const clusterId = "fwdtest";
const nodeExt = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
const clientExt = "extendedKeyUsage=clientAuth\n";

describe("certificate-authenticated calls through nodes that do not lead (3 processes, TLS)", () => {
  let pki: Pki;
  let cluster: ProcessCluster;
  let operator: Pem;
  let serverCa: Pem;

  before(async () => {
    pki = makePki();
    authority(pki.dir, "peer-ca", "geobroker peer CA");
    serverCa = authority(pki.dir, "server-ca", "geobroker server CA");
    const server = leaf(pki.dir, "server-ca", "client-port", "fwdtest", serverExt);
    // One peer certificate for the cluster, named as the operator issues it: CN=<clusterId>-peer.
    const peer = leaf(pki.dir, "peer-ca", "peer", `${clusterId}-peer`, nodeExt);
    operator = leaf(pki.dir, "ca", "operator", "geobroker-operator", clientExt);
    const aclFile = join(pki.dir, "acl.yaml");
    writeFileSync(
      aclFile,
      stringify({ roles: [], users: [{ name: "geobroker-operator", roles: ["admin"] }] }),
    );
    cluster = await ProcessCluster.start(["eu", "us", "ap"], {
      config: {
        clusterId,
        tls: {
          client: {
            cert: server.certFile,
            key: server.keyFile,
            ca: pki.ca.certFile,
            serverCa: serverCa.certFile,
            requireClientCert: false,
          },
          // A shared certificate is accepted only where configured (peer-binding.ts), as the operator does.
          peer: {
            cert: peer.certFile,
            key: peer.keyFile,
            ca: join(pki.dir, "peer-ca.crt"),
            sharedIdentities: [`${clusterId}-peer`],
          },
        },
        auth: { modes: ["certificate"], aclFile },
      },
    });
  });

  after(async () => {
    await cluster?.stop();
  });

  const clientsOf = (n: ProcessNode, identity?: Pem) => {
    const transport = createGrpcTransport({
      baseUrl: `https://127.0.0.1:${n.clientPort}`,
      nodeOptions: identity
        ? { ca: serverCa.cert, cert: identity.cert, key: identity.key }
        : { ca: serverCa.cert },
    });
    return {
      topics: createClient(TopicService, transport),
      publish: createClient(PublishService, transport),
    };
  };

  /** The node leading the metadata group (group 0), from the nodes' /metrics. */
  async function metadataLeader(): Promise<ProcessNode> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      for (const n of cluster.nodes) {
        const text = await (await fetch(`http://127.0.0.1:${n.httpPort}/metrics`)).text();
        if (/^geobroker_raft_is_leader\{[^}]*\bgroup="0"[^}]*\} 1$/m.test(text)) return n;
      }
      if (Date.now() > deadline) assert.fail("no metadata leader reported");
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test("a certificate-only caller creates a topic through a metadata follower and publishes through every node", async () => {
    const leader = await metadataLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const created = await clientsOf(follower, operator).topics.createTopic(
      { topic: { name: "fwd.orders", partitions: 1, replicationFactor: 3 } },
      { timeoutMs: 15_000 },
    );
    assert.equal(created.topic?.name, "fwd.orders");
    const partitionLeader = created.topic?.partitionInfo[0]?.leaderNodeId;
    // Through every node: at least two of the three forward to the partition's leader.
    const offsets: bigint[] = [];
    for (const n of cluster.nodes) {
      const res = await clientsOf(n, operator).publish.publish(
        { topic: "fwd.orders", body: new TextEncoder().encode(`via ${n.id}`) },
        { timeoutMs: 15_000 },
      );
      assert.equal(
        res.topic,
        "fwd.orders",
        `published through ${n.id} (partition leader ${partitionLeader})`,
      );
      offsets.push(res.offset);
    }
    // The acks say where the three messages are. GetTopic is the asked node's own replica (docs/raft.md,
    // "Read guarantees"): a follower that was not the one published through may not have applied the
    // last ack yet, so it is only expected to catch up, not to be current at once.
    assert.deepEqual(offsets, [0n, 1n, 2n], "all three messages appended");
    await eventually("the follower's replica to apply all three", 10_000, async () => {
      const info = await clientsOf(follower, operator).topics.getTopic(
        { name: "fwd.orders" },
        { timeoutMs: 5_000 },
      );
      return (info.topic?.partitionInfo[0]?.nextOffset ?? 0n) >= 3n || undefined;
    });
  });

  test("a client cannot name someone else in x-geobroker-forwarded-for, with or without a certificate", async () => {
    const follower = cluster.nodes.find((n) => n !== cluster.nodes[0]) ?? cluster.nodes[0]!;
    for (const identity of [undefined, pki.alice]) {
      try {
        await clientsOf(follower, identity).topics.createTopic(
          { topic: { name: `impostor.${identity ? "cert" : "none"}` } },
          { headers: { [forwardedForHeader]: "geobroker-operator" }, timeoutMs: 10_000 },
        );
        assert.fail("the impersonation was accepted");
      } catch (err) {
        const e = ConnectError.from(err);
        assert.equal(e.code, Code.Unauthenticated, e.message);
        assert.match(e.rawMessage, /x-geobroker-forwarded-for is only accepted from cluster nodes/);
      }
    }
  });

  test("a peer-CA certificate is no client: named geobroker-operator, it still gets no identity", async () => {
    // Whoever can have the peer issuer sign (a namespace's cert-manager user) must not mint the
    // operator's admin identity: the client port trusts the peer CA for forwarding nodes only.
    const forged = leaf(pki.dir, "peer-ca", "forged-operator", "geobroker-operator", clientExt);
    for (const n of cluster.nodes) {
      try {
        await clientsOf(n, forged).topics.createTopic(
          { topic: { name: "forged.admin" } },
          { timeoutMs: 10_000 },
        );
        assert.fail(`${n.id} accepted a peer-CA certificate as the operator`);
      } catch (err) {
        const e = ConnectError.from(err);
        assert.equal(e.code, Code.Unauthenticated, e.message);
      }
    }
    // The same name from the client CA is the operator (admin): the ACL is not what refused.
    const listed = await clientsOf(cluster.nodes[0]!, operator).topics.listTopics({}, { timeoutMs: 10_000 });
    assert.ok(listed.topics.some((t) => t.name === "fwd.orders"));
  });
});
