import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { forwardedHopsHeader } from "../../src/engine/engine.js";
import { v1Clients } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { ProcessCluster } from "../support/process-cluster.js";

// On a client port without TLS the `geobroker-forwarded-hops` header was believed from anyone: a
// client that set it to the hop limit made a node refuse to forward its call (and could keep its
// publishes off the metrics, or have a consumer dispatched away from its coordinator). Now it is
// believed only from the nodes' own addresses (security/node-addresses.ts). The cluster listens
// on 127.0.0.1; a client connecting from 127.0.0.2 is another host to it.

let cluster: ProcessCluster;
before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"]);
});
after(async () => {
  await cluster?.stop();
});

test("a client's forwarded-hops header is ignored, a node address's is believed", async () => {
  const admin = v1Clients(cluster.nodes[0]!.clientPort);
  await admin.topics.createTopic(
    { topic: { name: "hops-source", partitions: 1, replicationFactor: 3, homeRegion: "eu" } },
    { headers: admin.headers },
  );
  const leader = await eventually("a leader for hops-source", 15_000, async () => {
    const t = await admin.topics.getTopic({ name: "hops-source" }, { headers: admin.headers });
    return t.topic?.partitionInfo[0]?.leaderNodeId || undefined;
  });
  const other = cluster.nodes.find((n) => n.id !== leader)!;
  const publishVia = (from: string) =>
    v1Clients(other.clientPort, { localAddress: from }).publish.publish(
      { topic: "hops-source", body: new TextEncoder().encode(from) },
      { headers: { ...admin.headers, [forwardedHopsHeader]: "3" }, timeoutMs: 10_000 },
    );

  // Another host: the header is the client's own, so the node forwards the publish to the leader.
  const published = await publishVia("127.0.0.2");
  assert.equal(published.partition, 0);

  // The nodes' own address: believed, so the call is at the hop limit and not forwarded again.
  const err = await publishVia("127.0.0.1").then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(err?.code, Code.Unavailable, String(err));
  assert.match(err!.rawMessage, /moved while the publish was forwarded/);
});
