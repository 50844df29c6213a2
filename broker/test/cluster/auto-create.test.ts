import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type CompatClient, compatClient } from "../support/clients.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;
const clients: CompatClient[] = [];

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"]);
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

// Found while reproducing issue 17's live-burst scenario: the first publishes to a new topic, sent
// at once through a node that does not lead the metadata group, were forwarded as plain CreateTopic
// calls, and every one but the first failed ALREADY_EXISTS.
test("concurrent first publishes to a new topic through every node all succeed", async () => {
  for (const n of cluster.nodes) clients.push(await compatClient(n.clientPort));
  const results = await Promise.allSettled(
    Array.from({ length: 60 }, (_, i) => clients[i % clients.length]!.publish(`fresh.t${i % 3}`, `m${i}`)),
  );
  const failed = results
    .filter((r) => r.status === "rejected")
    .map((r) => (r as PromiseRejectedResult).reason);
  assert.deepEqual(
    failed.map((e: Error) => e.message),
    [],
    "no publish to a topic another publish was creating fails",
  );
});
