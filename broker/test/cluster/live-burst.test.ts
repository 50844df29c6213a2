import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type CompatClient, compatClient } from "../support/clients.js";
import { ProcessCluster } from "../support/process-cluster.js";

// Issue #17, defect 8's scenario (the compat API's guarantee in docs/raft.md, "Read guarantees"):
// 150 messages round-robin to 3 new topics through eu, a Subscribe through ap from a timestamp, then 30
// more. Every acknowledged message, the last included, must reach the live subscriber.

let cluster: ProcessCluster;
let eu: CompatClient;
let ap: CompatClient;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"]);
  eu = await compatClient(cluster.node("eu-0").clientPort);
  ap = await compatClient(cluster.node("ap-0").clientPort);
});

after(async () => {
  eu?.close();
  ap?.close();
  await cluster?.stop();
});

test("a live compat subscriber through ap gets every message of a burst published through eu, the last one included", async () => {
  const topics = [0, 1, 2].map((i) => `burst.t${i}`);
  const from = Date.now() * 1000;
  const published = new Set<string>();
  for (let i = 0; i < 150; i++) published.add(await eu.publish(topics[i % 3]!, `pre-${i}`));
  const stream = ap.subscribe(Object.fromEntries(topics.map((t) => [t, from])));
  const got = new Set<string>();
  let check: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    check = () => {
      if (published.size === 180 && [...published].every((id) => got.has(id))) resolve();
    };
    stream.on("data", (m: { id: string }) => {
      got.add(m.id);
      check();
    });
    stream.on("error", (e: Error & { code?: number }) => (e.code === 1 ? undefined : reject(e)));
  });
  for (let i = 0; i < 30; i++) published.add(await eu.publish(topics[i % 3]!, `live-${i}`));
  check();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    done.then(() => "ok"),
    new Promise<string>((r) => {
      timer = setTimeout(() => r("timeout"), 30_000);
    }),
  ]);
  clearTimeout(timer);
  stream.cancel();
  const missing = [...published].filter((id) => !got.has(id));
  assert.equal(outcome, "ok", `missing after 30 s: ${missing.join(", ")}`);
});
