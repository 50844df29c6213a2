import assert from "node:assert/strict";
import { test } from "node:test";
import { compatClient, readBodies } from "../support/clients.js";
import { ProcessCluster } from "../support/process-cluster.js";

test("a node that missed more than the kept log catches up from a snapshot of the partition", async () => {
  // Keep only 20 applied entries: the leader compacts past what the stopped node has.
  const cluster = await ProcessCluster.start(["eu", "us", "ap"], { raft: { keepLogEntries: 20 } });
  try {
    const writer = await compatClient(cluster.nodes[0]!.clientPort);
    await writer.publish("snap", "first");
    const down = cluster.nodes[2]!;
    await cluster.kill(down);
    const sent = ["first"];
    for (let i = 0; i < 300; i++) {
      await writer.publish("snap", `m${i}`);
      sent.push(`m${i}`);
    }
    // Compaction runs every 10 ticks; give it a moment to drop the entries the node would need.
    await new Promise((r) => setTimeout(r, 1500));
    cluster.launch(down);
    await cluster.waitReady([down]);
    const reader = await compatClient(down.clientPort);
    const got = await readBodies(reader, "snap", sent.length);
    assert.deepEqual(got, sent);
    const log = down.log.join("\n") + cluster.nodes.map((n) => n.log.join("\n")).join("\n");
    assert.match(log, /sends snapshot/, "the catch-up went through a snapshot, not the log");
    writer.close();
    reader.close();
  } finally {
    await cluster.stop();
  }
});
