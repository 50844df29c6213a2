import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { DurableConsumer } from "./consumer.js";
import { diskOutcomes, diskProblems } from "./disk-faults.js";
import { describeStuckGroup, waitWhole } from "./group-health.js";
import { checkText, describe, resultLine } from "./history/check.js";
import { HistoryLog } from "./history-log.js";
import { buildLossyfs, LossyDisks } from "./lossy-disk.js";
import { churnOutcomes, damageOutcomes, paused, plan } from "./nemeses.js";
import { unavailable } from "./requirements.js";
import { retentionWindow, retryOutcomes } from "./retention-retry.js";
import { diskKinds, type Fault, type FaultKind, schedule, selectKinds } from "./schedule.js";
import { Subscribers } from "./subscribers.js";
import {
  checkPartition,
  clientsOf,
  duplicates,
  firstDifference,
  leaderOf,
  Publishers,
  readPartition,
  seededRandom,
  sleep,
  waitAllResumed,
  waitNewLeader,
} from "./workload.js";

// Fault injection on a real multi-process cluster (docs/fault-injection.md). Publishers publish with
// retries the whole time while a seeded schedule kills leaders (kill -9, then a restart), cuts regions
// off and isolates leaders from the majority, each followed by a heal. Afterwards every node must hold
// every acknowledged message at its acknowledged offset, in publish order, with no gap, and the time
// until publishes succeed again is measured per fault.
//
//   GEOBROKER_CHAOS_SEED=<n>      the schedule to run (printed by every run)
//   GEOBROKER_CHAOS_SECONDS=<s>   how long to keep injecting faults (default 30; `npm run chaos`: 600)
//   GEOBROKER_CHAOS_NODES=<n>     nodes per region (default 2)
//   GEOBROKER_CHAOS_NEMESES=a,b   only these fault kinds (default: all; `npm run chaos -- --nemesis a,b`)

const env = process.env;
const seed = env.GEOBROKER_CHAOS_SEED
  ? Number(env.GEOBROKER_CHAOS_SEED)
  : Math.floor(Math.random() * 2 ** 31);
const seconds = Number(env.GEOBROKER_CHAOS_SECONDS ?? 30);
const nodesPerRegion = Number(env.GEOBROKER_CHAOS_NODES ?? 2);
const regions = ["eu", "us", "ap"];
const topic = "chaos";
const partitions = 3;
/** The topic's retention by age: longer than any run, so no acknowledged message may expire. */
const retentionMaxAgeMs = 3600_000;
/** How long a message id is remembered: a retry within it gets the first offset back. */
const dedupWindowMs = 120_000;
/** A publish attempt's deadline; after it the publisher retries (same message id) at another node. */
const attemptTimeoutMs = Number(env.GEOBROKER_CHAOS_ATTEMPT_TIMEOUT_MS ?? 1000);

const selectedKinds = selectKinds(env.GEOBROKER_CHAOS_NEMESES, unavailable);
/** Every selected kind runs at least once, however short the run. */
const firstKinds = selectedKinds;
/** Every initial node runs on lossyfs when a disk fault is selected (built here when needed). */
const disks = selectedKinds.some((k) => diskKinds.includes(k)) ? new LossyDisks() : undefined;

interface Outcome {
  kind: FaultKind;
  fault: string;
  /** Partitions whose leader the fault took away. */
  affected: number[];
  /** Per affected partition: ms from the injection until the other nodes agreed on a new leader. */
  electedMs: (number | undefined)[];
  /**
   * Per partition: ms from the injection until a publish attempt started after it was acknowledged
   * (the client's view: an attempt already sent to the old leader waits out its deadline first).
   */
  resumeMs: (number | undefined)[];
  /** The same after the restart or heal. */
  afterHealMs: (number | undefined)[];
}

const fmt = (ms: number | undefined) =>
  ms === undefined || ms === Number.POSITIVE_INFINITY ? "never" : `${Math.round(ms)}`;
/** A few values as a list, many as median / p90 / max. */
function spread(xs: (number | undefined)[]): string {
  if (xs.length === 0) return "-";
  if (xs.length <= 8) return xs.map(fmt).join(", ");
  const sorted = xs.map((x) => x ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const at = (q: number) => fmt(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  return `median ${at(0.5)}, p90 ${at(0.9)}, max ${fmt(sorted.at(-1))} (n=${xs.length})`;
}
const worstOf = (xs: (number | undefined)[]) =>
  xs.reduce<number | undefined>(
    (w, t) => (w === undefined || t === undefined ? undefined : Math.max(w, t)),
    0,
  );

test("chaos: seeded faults while publishing; no acknowledged message lost, order kept, service resumes", {
  // Every selected kind runs once however short the run (a membership change can take a minute).
  timeout: (seconds + 60 * firstKinds.length) * 1000 + 150_000,
}, async () => {
  console.log(
    `chaos seed=${seed} seconds=${seconds} nodesPerRegion=${nodesPerRegion} nemeses=${selectedKinds.join(",")} (GEOBROKER_CHAOS_SEED=${seed} replays this schedule)`,
  );
  const history = new HistoryLog(seed);
  console.log(`  history: ${history.path}`);
  // Where `npm run chaos` finds the history to check, also when the run fails before its checks.
  const latest = join(dirname(history.path), "latest.json");
  writeFileSync(latest, JSON.stringify({ seed, history: history.path }));
  const faults = schedule(seededRandom(seed), selectedKinds, { partitions, regions });
  if (disks) buildLossyfs();
  const cluster = await ProcessCluster.start(regions, {
    ...(disks ? { disks } : {}),
    nodesPerRegion,
    faultProxies: true,
    readyTimeoutMs: 120_000, // six processes starting at once on a shared 2-core machine
    // Nodes membership-churn adds (three per region), proxied like the others from the start.
    spares: regions.flatMap((region) =>
      [0, 1, 2].map((k) => ({ id: `${region}-${nodesPerRegion + k}`, region })),
    ),
    // Retention by age runs every second through every fault (clock-skew above all), against an
    // age limit no run reaches: whatever it removes is a loss the checker reports.
    config: { partitions: { dedupWindowMs, dedupMaxIds: 100_000, retentionCheckMs: 1000 } },
  });
  const outcomes: Outcome[] = [];
  /** Faults before which the cluster did not become whole within 60 s (a re-admission that stalled). */
  const notWholeBefore: string[] = [];
  let pubs: Publishers | undefined;
  let subs: Subscribers | undefined;
  let consumer: DurableConsumer | undefined;
  try {
    const admin = clientsOf(cluster.nodes[0]!);
    await admin.topics.createTopic(
      {
        topic: {
          name: topic,
          partitions,
          replicationFactor: 3,
          retention: { maxAgeMs: BigInt(retentionMaxAgeMs), keepUnacknowledged: true },
        },
      },
      { headers: admin.headers },
    );
    pubs = new Publishers(cluster, topic, partitions, { paceMs: 10, attemptTimeoutMs, history });
    pubs.start();
    subs = new Subscribers(cluster, topic, partitions, history);
    subs.start();
    consumer = new DurableConsumer(cluster, topic, history);
    consumer.start();
    // New groups on a loaded machine can take a while to take their first publishes.
    const warm = await waitAllResumed(pubs, performance.now(), 60_000);
    assert.ok(
      warm.every((t) => t !== undefined),
      "every partition takes publishes before the faults",
    );
    await sleep(1000);

    const started = performance.now();
    for (const f of faults) {
      if (performance.now() - started > seconds * 1000 && outcomes.length >= firstKinds.length) break;
      // The next fault only once the last one is repaired: every group led, every replica a voter
      // that can vote (a wiped node re-admitted), so that each fault is one failure, not two.
      const wholeAt = performance.now();
      const missing = await waitWhole(cluster, topic, 60_000);
      const waited = performance.now() - wholeAt;
      if (missing.length) notWholeBefore.push(`${f.kind} #${outcomes.length + 1}: ${missing.join("; ")}`);
      if (waited > 1000 || missing.length)
        console.log(
          `  (${Math.round(waited)} ms until the cluster was whole${missing.length ? `; never: ${missing.join("; ")}` : ""})`,
        );
      const o = await inject(cluster, pubs, f, history);
      outcomes.push(o);
      console.log(
        `  ${o.fault}: new leader after ${o.electedMs.map(fmt).join("/") || "-"} ms; publishes resumed after ${o.resumeMs.map(fmt).join("/")} ms, after the heal ${o.afterHealMs.map(fmt).join("/")} ms (per partition)`,
      );
      await sleep(f.settleMs);
    }

    const faultSeconds = (performance.now() - started) / 1000;
    // Everything back: every node running, every link passing, publishing everywhere.
    cluster.network!.heal();
    const down = cluster.nodes.filter((n) => !n.child);
    for (const n of down) cluster.launch(n);
    await cluster.waitReady();
    await waitAllResumed(pubs, performance.now(), 20_000);
    await sleep(500);
    await pubs.stop();
    await subs.stop();
    // The durable consumer drains every acknowledged publish, then the cluster's final ack floors
    // are recorded: the checker holds each acknowledged publish below them to have been consumed.
    const upTo = new Map(pubs.acked.map((list, p) => [p, Number(list.at(-1)?.offset ?? -1n)]));
    await consumer.drainAndStop(upTo, 60_000);

    summarize(outcomes, pubs);
    for (const d of damageOutcomes) console.log(`  disk damage: ${d}`);
    for (const c of churnOutcomes) console.log(`  membership churn: ${c}`);
    for (const r of retryOutcomes) console.log(`  retention-retry: ${r}`);
    for (const d of diskOutcomes) console.log(`  disk fault: ${d}`);
    console.log(
      `  subscribers: ${subs.delivered} deliveries, ${subs.resumed} streams resumed at another node`,
    );
    console.log(
      `  durable consumer: ${consumer.delivered} deliveries (${consumer.redelivered} redeliveries), ${consumer.sessions} sessions`,
    );
    const changes = cluster.network!.history;
    console.log(`  network (last 12 of ${changes.length} changes): ${changes.slice(-12).join("; ")}`);

    const problems: string[] = [];
    let dups = 0;
    for (let p = 0; p < partitions; p++) {
      const acked = pubs.acked[p]!;
      const upTo = acked.at(-1)?.offset ?? 0n;
      const reads = await Promise.all(
        cluster.nodes.map((n) => readPartition(n, topic, p, upTo, 30_000, history)),
      );
      reads.forEach((read, i) => {
        const where = `${cluster.nodes[i]!.id} partition ${p}`;
        problems.push(...checkPartition(where, read, acked, retentionWindow.endedAt));
        // Beyond the promises: every replica holds the very same log, unacknowledged retries included.
        const differs = firstDifference(read, reads[0]!);
        if (differs) problems.push(`${where}: ${differs} at ${cluster.nodes[0]!.id}`);
      });
      dups += duplicates(reads[0]!);
    }
    console.log(
      `  checked ${partitions} partitions on ${cluster.nodes.length} nodes: ${problems.length} problems; ${dups} messages stored twice (must be 0: retries carry their message id)`,
    );
    // The independent checker, over the history as written to disk.
    await history.close();
    const report = checkText(readFileSync(history.path, "utf8"));
    for (const line of describe(report)) console.log(`  ${line}`);
    const result = resultLine(report, faultSeconds);
    writeFileSync(latest, JSON.stringify({ seed, seconds: faultSeconds, history: history.path, result }));
    console.log(result);
    assert.deepEqual(
      report.violations.map((v) => `${v.rule}: ${v.message}`).slice(0, 20),
      [],
      `the history checker found violations (${history.path})`,
    );
    assert.deepEqual(
      problems,
      [],
      "every acknowledged message on every node, at its offset, in order, no gaps",
    );
    assert.deepEqual(
      diskProblems,
      [],
      "a node with a full or failing disk refuses writes, saying why, and recovers",
    );
    assert.deepEqual(
      notWholeBefore,
      [],
      "the cluster was whole again (re-admitted, promoted) before each fault",
    );
    for (const o of outcomes) {
      assert.ok(
        o.resumeMs.every((t) => t !== undefined) && o.afterHealMs.every((t) => t !== undefined),
        `publishing resumed on every partition after ${o.fault}`,
      );
      assert.ok(
        o.electedMs.every((t) => t !== undefined),
        `the majority elected a new leader after ${o.fault}`,
      );
    }
    assert.ok(pubs.total() > 100, "the load ran through the faults");
    // Every attempt carries its body as message id: a retry of an attempt that committed after all
    // is answered with the first offset (partitions.dedupWindowMs), never stored again.
    assert.equal(dups, 0, "no retried publish was stored twice");
    // The faults were real: peer traffic went through the proxies, and partitions dropped some.
    const net = cluster.network!.stats();
    console.log(
      `  proxies: ${net.accepted} connections, ${(net.forwardedBytes / 1e6).toFixed(1)} MB forwarded, ${(net.droppedBytes / 1e3).toFixed(1)} kB dropped, ${net.resets} resets`,
    );
    assert.ok(net.forwardedBytes > 0, "peer links go through the fault proxies");
    if (outcomes.some((o) => ["partition-region", "isolate-leader", "flaky-leader"].includes(o.kind)))
      assert.ok(net.droppedBytes > 0, "the partitions dropped peer traffic");
  } finally {
    await pubs?.stop();
    await subs?.stop();
    await consumer?.stop();
    await history.close().catch(() => {});
    for (const n of paused) n.child?.kill("SIGCONT"); // a paused node would not take SIGTERM
    await cluster.stop();
  }
});

function summarize(outcomes: Outcome[], pubs: Publishers): void {
  console.log(
    `chaos seed=${seed}: ${outcomes.length} faults, ${pubs.total()} acknowledged publishes, ${pubs.failures} failed attempts retried (attempt deadline ${attemptTimeoutMs} ms)`,
  );
  for (const kind of new Set(outcomes.map((o) => o.kind))) {
    const of = outcomes.filter((o) => o.kind === kind);
    const elected = of.flatMap((o) => o.electedMs);
    const leaderLost = of.filter((o) => o.affected.length > 0);
    console.log(
      `  ${kind}: ${of.length}x; new leader after (ms) ${spread(elected)}; worst time to resume publishing per fault (ms) ${spread(of.map((o) => worstOf(o.resumeMs)))}${leaderLost.length < of.length ? ` (${of.length - leaderLost.length} took no leader away)` : ""}`,
    );
  }
  console.log(
    `  attempt errors: ${
      [...pubs.errors]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([e, n]) => `${n}x ${e}`)
        .join("; ") || "none"
    }`,
  );
}

async function inject(
  cluster: ProcessCluster,
  pubs: Publishers,
  f: Fault,
  history: HistoryLog,
): Promise<Outcome> {
  // Every partition's leader; on a loaded machine a look-up can time out, so ask again for a while.
  let leaders: string[] = [];
  for (const deadline = performance.now() + 15_000; ; await sleep(200)) {
    leaders = await Promise.all(Array.from({ length: partitions }, (_, p) => leaderOf(cluster, topic, p)));
    if (leaders.every(Boolean) || performance.now() > deadline) break;
  }
  const leader: ProcessNode | undefined = leaders[f.partition]
    ? cluster.node(leaders[f.partition]!)
    : undefined;
  if (!leader && f.kind !== "partition-region") throw new Error(`partition ${f.partition} has no leader`);
  const {
    fault: what,
    cut,
    start,
    heal,
    holdMs,
    quorumLost = false,
  } = plan(cluster, f, leader, {
    topic,
    nodesPerRegion,
    history,
    retentionMaxAgeMs,
    acked: (p) => pubs.acked[p]!,
    dedupWindowMs,
    disks,
  });
  let fault = what;
  const affected = leaders.flatMap((l, p) => (cut.includes(l) ? [p] : []));
  if (f.kind !== "kill-leader" && f.kind !== "slow-leader")
    fault += affected.length
      ? `, cuts off the leaders of ${affected.map((p) => `p${p}`).join(", ")}`
      : ", cuts off no leader";
  const at = performance.now();
  console.log(`  > ${fault}`); // before the wait, so that a fault that hangs the run is named
  history.record({
    type: "nemesis",
    phase: "start",
    fault,
    kind: f.kind,
    ...(quorumLost ? { quorumLost } : {}),
  });
  await start();
  const observers = cluster.nodes.filter((n) => n.child && !cut.includes(n.id));
  // A majority lost: no new leader and no writes are due before the heal (only after it).
  const [resumeMs, electedMs] = quorumLost
    ? [[], []]
    : await Promise.all([
        waitAllResumed(pubs, at, 20_000),
        Promise.all(
          affected.map((p) => waitNewLeader(cluster, topic, p, leaders[p]!, observers, at, 20_000)),
        ),
      ]);
  const stuck = [
    ...affected.filter((_, i) => electedMs[i] === undefined),
    ...resumeMs.flatMap((t, p) => (t === undefined && !affected.includes(p) ? [p] : [])),
  ];
  for (const p of stuck)
    for (const line of await describeStuckGroup(cluster, topic, p, observers)) console.log(`  ! ${line}`);
  await sleep(Math.max(0, holdMs - (performance.now() - at)));
  history.record({
    type: "nemesis",
    phase: "heal",
    fault,
    kind: f.kind,
    ...(quorumLost ? { quorumLost } : {}),
  });
  await heal();
  const afterHealMs = await waitAllResumed(pubs, performance.now(), 20_000);
  return { kind: f.kind, fault, affected, electedMs, resumeMs, afterHealMs };
}
