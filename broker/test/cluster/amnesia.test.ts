import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { test } from "node:test";
import { onLines } from "../../src/util/child-lines.js";
import { compatClient, readBodies } from "../support/clients.js";
import { ProcessCluster } from "../support/process-cluster.js";

/** The Raft core's lines ("message" of the JSON log), in order. */
const messages = (lines: string[]) =>
  lines.map((l) => {
    try {
      return String((JSON.parse(l) as { message?: unknown }).message ?? "");
    } catch {
      return l;
    }
  });

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("a node whose data directory is lost rejoins as a learner, votes nowhere until re-admitted, and nothing acknowledged is lost", async () => {
  const cluster = await ProcessCluster.start(["eu", "us", "ap"]);
  try {
    const writer = await compatClient(cluster.nodes[0]!.clientPort);
    const sent: string[] = [];
    const publish = async (body: string) => {
      await writer.publish("amnesia", body);
      sent.push(body);
    };
    for (let i = 0; i < 20; i++) await publish(`before-${i}`);
    const lost = cluster.nodes[2]!;
    await cluster.kill(lost);
    rmSync(lost.dataDir, { recursive: true, force: true });
    mkdirSync(lost.dataDir, { recursive: true });
    for (let i = 0; i < 20; i++) await publish(`while-down-${i}`);

    cluster.launch(lost);
    const lines: string[] = [];
    onLines(lost.child!, (l) => lines.push(l));
    await cluster.waitReady([lost]);
    // Re-admitted to the metadata group (0) and to the topic's group (1): removed, added back as a
    // learner under the new incarnation, promoted.
    await until("re-admission to groups 0 and 1", 30_000, () => {
      const m = messages(lines);
      return [0, 1].every((g) => m.some((x) => x.includes(`was admitted to group ${g} as incarnation`)));
    });
    for (let i = 0; i < 20; i++) await publish(`after-${i}`);

    const m = messages(lines);
    assert.ok(
      m.some((x) => /lost its state and rejoins its groups as a learner/.test(x)),
      "the node says it lost its state",
    );
    for (const g of [0, 1]) {
      const refused = m.findIndex((x) => x.includes(`does not vote or campaign in group ${g}:`));
      const admitted = m.findIndex((x) => x.includes(`was admitted to group ${g} as incarnation`));
      assert.ok(refused >= 0 && refused < admitted, `group ${g}: it knew it may not vote, until admitted`);
      const voted = m.findIndex((x) => x.includes(`votes for`) && x.includes(`in group ${g} `));
      assert.ok(voted < 0 || voted > admitted, `group ${g}: it voted before it was re-admitted: ${m[voted]}`);
    }

    // Everything acknowledged, read back from the replica that lost its disk.
    const reader = await compatClient(lost.clientPort);
    const got = await readBodies(reader, "amnesia", sent.length);
    assert.deepEqual(got, sent);
    writer.close();
    reader.close();
  } finally {
    await cluster.stop();
  }
});
