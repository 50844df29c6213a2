import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { buildClusterMap } from "../../console/src/model/cluster-map.js";
import { consumerLag, totalLag } from "../../console/src/model/consumers.js";
import { codes, explainError } from "../../console/src/model/errors.js";
import {
  formatBytes,
  formatRate,
  hexDump,
  maxShownBytes,
  renderBody,
} from "../../console/src/model/format.js";
import {
  counterDelta,
  type Histogram,
  type NodeSample,
  quantile,
  RegionSeries,
  regionPoints,
} from "../../console/src/model/rates.js";
import { GetClusterInfoResponseSchema, MemberRole, NodeState } from "../../gen/geobroker/v1/cluster_pb.js";

const text = (s: string) => new TextEncoder().encode(s);

test("cluster map: regions as groups, node states, leaders exactly as reported, leader away from home", () => {
  const info = create(GetClusterInfoResponseSchema, {
    clusterId: "c",
    regions: ["eu", "us", "ap"],
    nodes: [
      { id: "us-0", region: "us", state: NodeState.VOTER, reachable: true },
      { id: "eu-0", region: "eu", state: NodeState.VOTER, reachable: true },
      { id: "ap-0", region: "ap", state: NodeState.LEARNER, reachable: false },
      { id: "eu-1", region: "eu", state: NodeState.DRAINING, reachable: true },
      { id: "sa-0", region: "sa", state: NodeState.LEARNER, reachable: true },
    ],
    groups: [
      {
        id: 7n,
        topic: "orders",
        partition: 1,
        leaderNodeId: "us-0",
        homeRegion: "eu",
        members: [
          { nodeId: "us-0", role: MemberRole.VOTER, lagEntries: 0n },
          { nodeId: "eu-0", role: MemberRole.VOTER, lagEntries: 3n },
          { nodeId: "ap-0", role: MemberRole.LEARNER, lagEntries: 40n },
        ],
      },
      { id: 1n, topic: "metadata", partition: 0, leaderNodeId: "eu-0" },
      { id: 6n, topic: "orders", partition: 0, leaderNodeId: "" },
    ],
  });
  const map = buildClusterMap(info);
  assert.deepEqual(
    map.regions.map((r) => [r.name, r.nodes.map((n) => `${n.id}:${n.status}`)]),
    [
      ["eu", ["eu-0:voter", "eu-1:draining"]],
      ["us", ["us-0:voter"]],
      ["ap", ["ap-0:unreachable"]],
      ["sa", ["sa-0:learner"]],
    ],
    "a node in a region the list lacks is still shown; unreachable wins over its role",
  );
  assert.deepEqual(
    map.groups.map((g) => g.label),
    ["metadata", "orders/0", "orders/1"],
  );
  const p1 = map.groups[2]!;
  assert.equal(p1.leader, "us-0");
  assert.equal(p1.leaderRegion, "us");
  assert.equal(p1.leaderAway, true, "home eu, led from us");
  assert.deepEqual(
    p1.members.map((m) => [m.nodeId, m.role, m.lagEntries, m.isLeader]),
    [
      ["ap-0", "learner", 40n, false],
      ["eu-0", "voter", 3n, false],
      ["us-0", "voter", 0n, true],
    ],
  );
  assert.deepEqual(map.leaderless, ["orders/0"]);
  assert.deepEqual(map.regions[0]!.nodes[0]!.leads, ["metadata"]);
  assert.deepEqual(map.regions[1]!.nodes[0]!.leads, ["orders/1"]);
});

test("bodies: text, pretty JSON, hex; fallbacks say why; large bodies are cut with a note", () => {
  assert.deepEqual(renderBody(text('{"a":1,"b":[2]}'), "json"), {
    text: '{\n  "a": 1,\n  "b": [\n    2\n  ]\n}',
    note: "",
  });
  assert.deepEqual(renderBody(text("plain"), "json"), { text: "plain", note: "not JSON: shown as text" });
  const binary = new Uint8Array([0xff, 0x00, 0x41]);
  assert.deepEqual(renderBody(binary, "text"), {
    text: hexDump(binary),
    note: "not UTF-8 text: shown as hex",
  });
  assert.equal(
    hexDump(text("Hello, geobroker!")),
    "00000000  48 65 6c 6c 6f 2c 20 67 65 6f 62 72 6f 6b 65 72  |Hello, geobroker|\n00000010  21                                               |!|",
  );
  const big = renderBody(new Uint8Array(maxShownBytes + 10).fill(0x61), "text");
  assert.equal(big.text.length, maxShownBytes);
  assert.equal(big.note, `first ${maxShownBytes} of ${maxShownBytes + 10} bytes`);
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(5n * 1024n * 1024n * 1024n), "5.0 GiB");
  assert.equal(formatRate(0.5), "0.5/s");
  assert.equal(formatRate(12345), "12.3k/s");
});

test("errors: the code decides the title and what to do; sign-in only for UNAUTHENTICATED", () => {
  const e = Object.assign(new Error("user viewer may not admin topic t"), { code: codes.permissionDenied });
  const x = explainError(e);
  assert.equal(x.title, "No permission");
  assert.equal(x.detail, "user viewer may not admin topic t");
  assert.equal(x.signIn, false);
  assert.equal(explainError({ code: codes.unauthenticated }).signIn, true);
  assert.equal(explainError({ code: codes.unavailable }).title, "Node unreachable or no quorum");
  assert.equal(explainError("boom").title, "Unexpected error");
});

const hist = (bounds: number[], counts: number[], count: number): Histogram => ({ bounds, counts, count });

test("quantile interpolates within the bucket, as histogram_quantile does", () => {
  // 100 observations: 50 <= 0.01 s, 40 in (0.01, 0.1], 10 in (0.1, 1].
  const h = hist([0.01, 0.1, 1], [50, 90, 100], 100);
  assert.equal(quantile(h, 0.5), 0.01);
  assert.ok(Math.abs(quantile(h, 0.7) - 0.055) < 1e-12);
  assert.ok(Math.abs(quantile(h, 0.99) - 0.91) < 1e-12);
  assert.ok(Number.isNaN(quantile(hist([0.01], [0], 0), 0.99)));
  assert.equal(quantile(hist([0.01, 0.1], [0, 0], 5), 0.99), 0.1, "in +Inf: at least the largest bound");
});

test("region points: counter deltas per second, resets counted from zero, p99 of merged bucket deltas", () => {
  const bounds = [0.01, 0.1, 1];
  const sample = (
    nodeId: string,
    region: string,
    atMs: number,
    published: number,
    commit: number[],
  ): NodeSample => ({
    nodeId,
    region,
    atMs,
    published,
    delivered: published * 2,
    publishCommit: hist(bounds, commit, commit.at(-1)!),
    deliverLag: hist(bounds, [0, 0, 0], 0),
  });
  const before = [sample("eu-0", "eu", 1000, 100, [10, 10, 10]), sample("eu-1", "eu", 1000, 500, [0, 0, 0])];
  // eu-0: +50 in 5 s, all fast; eu-1 restarted: its counter reads 20 (grew by 20), 20 slow ones.
  const after = [
    sample("eu-0", "eu", 6000, 150, [60, 60, 60]),
    sample("eu-1", "eu", 6000, 20, [0, 0, 20]),
    sample("us-0", "us", 6000, 5, [5, 5, 5]),
  ];
  const [eu, ...rest] = regionPoints(before, after);
  assert.equal(rest.length, 0, "us-0 has no earlier sample: no point yet");
  assert.equal(eu!.region, "eu");
  assert.equal(eu!.publishedPerSecond, (50 + 20) / 5);
  assert.equal(eu!.deliveredPerSecond, (100 + 40) / 5);
  // Merged deltas: 50 <= 0.01, 20 in (0.1, 1]: p99 rank 69.3 lies in the slow bucket.
  assert.ok(Math.abs(eu!.publishP99Seconds - (0.1 + 0.9 * (19.3 / 20))) < 1e-9);
  assert.ok(Number.isNaN(eu!.deliverP99Seconds), "no deliveries observed: no p99");
  assert.equal(counterDelta(10, 3), 3);
});

test("series keep the last window per region", () => {
  const s = new RegionSeries(60_000);
  const point = (atMs: number) => ({
    region: "eu",
    atMs,
    publishedPerSecond: 1,
    deliveredPerSecond: 1,
    publishP99Seconds: 0,
    deliverP99Seconds: 0,
  });
  for (const at of [0, 30_000, 60_000, 90_000]) s.add([point(at)]);
  assert.deepEqual(
    s.points("eu").map((p) => p.atMs),
    [30_000, 60_000, 90_000],
  );
  assert.deepEqual(s.regions(), ["eu"]);
});

test("consumer lag per partition: next offset minus the ack floor, floors below retention count from the first offset", () => {
  const lags = consumerLag({ 0: 5n, 1: 12n }, [
    { partition: 1, firstOffset: 0n, nextOffset: 12n },
    { partition: 0, firstOffset: 0n, nextOffset: 9n },
    { partition: 2, firstOffset: 3n, nextOffset: 10n },
  ]);
  assert.deepEqual(
    lags.map((l) => [l.partition, l.ackFloor, l.lag]),
    [
      [0, 5n, 4n],
      [1, 12n, 0n],
      [2, 3n, 7n],
    ],
  );
  assert.equal(totalLag(lags), 11n);
  assert.equal(consumerLag({ 0: 1n }, [{ partition: 0, firstOffset: 4n, nextOffset: 6n }])[0]!.lag, 2n);
});
