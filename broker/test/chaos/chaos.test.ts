import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { delay, reset } from "../support/fault-proxy.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { checkText, describe, resultLine } from "./history/check.js";
import { HistoryLog } from "./history-log.js";
import { Subscribers } from "./subscribers.js";
import {
  checkPartition,
  clientsOf,
  duplicates,
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
/** A publish attempt's deadline; after it the publisher retries (same message id) at another node. */
const attemptTimeoutMs = Number(env.GEOBROKER_CHAOS_ATTEMPT_TIMEOUT_MS ?? 1000);

/** The faults every run starts with (in a seeded order), then the extra ones, picked at random too. */
const requiredKinds = ["kill-leader", "partition-region", "isolate-leader", "pause-leader"] as const;
const extraKinds = ["flaky-leader", "slow-leader", "pause-follower"] as const;
type FaultKind = (typeof requiredKinds)[number] | (typeof extraKinds)[number];
const allKinds: readonly FaultKind[] = [...requiredKinds, ...extraKinds];

/** The kinds this run injects: GEOBROKER_CHAOS_NEMESES (comma-separated), or all of them. */
const selectedKinds: FaultKind[] = (() => {
  const names = (env.GEOBROKER_CHAOS_NEMESES ?? "").split(",").filter(Boolean);
  if (names.length === 0) return [...allKinds];
  const unknown = names.filter((n) => !allKinds.includes(n as FaultKind));
  if (unknown.length)
    throw new Error(`GEOBROKER_CHAOS_NEMESES: unknown ${unknown.join(", ")}; known: ${allKinds.join(", ")}`);
  return names as FaultKind[];
})();
const firstKinds = requiredKinds.filter((k) => selectedKinds.includes(k));

interface Fault {
  kind: FaultKind;
  /** Whose leader is the target (every kind but partition-region). */
  partition: number;
  /** The region cut off (partition-region). */
  region: string;
  /** How long the fault lasts before the restart or heal. */
  holdMs: number;
  /** One-way delay on the slow leader's links (slow-leader). */
  delayMs: number;
  /** How long a paused node stays stopped (pause-leader, pause-follower): 1-10 s. */
  pauseMs: number;
  /** Which follower of the partition is paused (pause-follower), as a fraction of the followers. */
  follower: number;
  /** Quiet time after the heal before the next fault. */
  settleMs: number;
}

/**
 * The fault schedule, endless: a function of the seed alone (the run takes faults from it until its
 * time is up). The first faults cover every required kind once.
 */
function* schedule(rand: () => number): Generator<Fault> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const firsts: FaultKind[] = [...firstKinds].sort(() => rand() - 0.5);
  for (;;) {
    yield {
      kind: firsts.shift() ?? pick(selectedKinds),
      partition: between(0, partitions - 1),
      region: pick(regions),
      holdMs: between(1500, 4000),
      delayMs: between(50, 200),
      settleMs: between(1000, 2500),
      pauseMs: between(1000, 10_000),
      follower: rand(),
    };
  }
}

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
  timeout: seconds * 1000 + 150_000,
}, async () => {
  console.log(
    `chaos seed=${seed} seconds=${seconds} nodesPerRegion=${nodesPerRegion} nemeses=${selectedKinds.join(",")} (GEOBROKER_CHAOS_SEED=${seed} replays this schedule)`,
  );
  const history = new HistoryLog(seed);
  console.log(`  history: ${history.path}`);
  const faults = schedule(seededRandom(seed));
  const cluster = await ProcessCluster.start(regions, { nodesPerRegion, faultProxies: true });
  const outcomes: Outcome[] = [];
  let pubs: Publishers | undefined;
  let subs: Subscribers | undefined;
  try {
    const admin = clientsOf(cluster.nodes[0]!);
    await admin.topics.createTopic(
      { topic: { name: topic, partitions, replicationFactor: 3 } },
      { headers: admin.headers },
    );
    pubs = new Publishers(cluster, topic, partitions, { paceMs: 10, attemptTimeoutMs, history });
    pubs.start();
    subs = new Subscribers(cluster, topic, partitions, history);
    subs.start();
    const warm = await waitAllResumed(pubs, performance.now(), 20_000);
    assert.ok(
      warm.every((t) => t !== undefined),
      "every partition takes publishes before the faults",
    );
    await sleep(1000);

    const started = performance.now();
    for (const f of faults) {
      if (performance.now() - started > seconds * 1000 && outcomes.length >= firstKinds.length) break;
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

    summarize(outcomes, pubs);
    console.log(
      `  subscribers: ${subs.delivered} deliveries, ${subs.resumed} streams resumed at another node`,
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
        problems.push(...checkPartition(`${cluster.nodes[i]!.id} partition ${p}`, read, acked));
        // Beyond the promises: every replica holds the very same log, unacknowledged retries included.
        const first = reads[0]!;
        const n = Math.min(read.bodies.length, first.bodies.length);
        for (let k = 0; k < n; k++)
          if (read.bodies[k] !== first.bodies[k]) {
            problems.push(
              `partition ${p}: offset ${k} holds ${read.bodies[k]} at ${cluster.nodes[i]!.id} but ${first.bodies[k]} at ${cluster.nodes[0]!.id}`,
            );
            break;
          }
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
    writeFileSync(
      join(dirname(history.path), "latest.json"),
      JSON.stringify({ seed, seconds: faultSeconds, history: history.path, result }),
    );
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
    if (outcomes.some((o) => o.kind !== "kill-leader"))
      assert.ok(net.droppedBytes > 0, "the partitions dropped peer traffic");
  } finally {
    await pubs?.stop();
    await subs?.stop();
    await history.close().catch(() => {});
    for (const n of cluster.nodes) n.child?.kill("SIGCONT"); // a paused node would not take SIGTERM
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
  const leaders = await Promise.all(
    Array.from({ length: partitions }, (_, p) => leaderOf(cluster, topic, p)),
  );
  let leader: ProcessNode | undefined = leaders[f.partition]
    ? cluster.node(leaders[f.partition]!)
    : undefined;
  if (!leader && f.kind !== "partition-region") throw new Error(`partition ${f.partition} has no leader`);
  /** The nodes the fault takes away from the rest. */
  let cut: string[];
  let fault: string;
  let start: () => Promise<void> | void = () => cluster.network!.isolate(cut);
  let heal: () => Promise<void> | void = () => cluster.network!.heal();
  switch (f.kind) {
    case "kill-leader":
      cut = [leader!.id];
      fault = `kill -9 ${leader!.id} (leads p${f.partition})`;
      start = () => cluster.kill(leader!);
      heal = async () => {
        cluster.launch(leader!);
        await cluster.waitReady([leader!]);
      };
      break;
    case "partition-region":
      cut = cluster.nodes.filter((n) => n.region === f.region).map((n) => n.id);
      fault = `partition region ${f.region} [${cut.join(", ")}]`;
      break;
    case "isolate-leader":
      cut = [leader!.id];
      fault = `isolate ${leader!.id} (leads p${f.partition}) from the majority`;
      break;
    case "flaky-leader":
      // Every connection to or from the leader is reset as soon as it is made.
      cut = [leader!.id];
      fault = `reset every peer connection of ${leader!.id} (leads p${f.partition})`;
      start = () => cluster.network!.degrade(cut, reset);
      break;
    case "slow-leader":
      // Slow, not cut: the leader keeps its quorum, publishes only get slower.
      cut = [];
      fault = `delay ${f.delayMs} ms each way on every peer link of ${leader!.id} (leads p${f.partition})`;
      start = () => cluster.network!.degrade([leader!.id], delay(f.delayMs));
      break;
    case "pause-leader":
    case "pause-follower": {
      // SIGSTOP: the process keeps its sockets and its memory but runs nothing (a GC pause, a VM
      // migration, a stalled disk); SIGCONT resumes it with stale timers and a stale view of the term.
      if (f.kind === "pause-follower") {
        const followers = cluster.nodes.filter((n) => n.child && n.id !== leader!.id);
        leader = followers[Math.floor(f.follower * followers.length)]!;
      }
      const target = leader!;
      cut = [target.id];
      fault = `pause ${target.id} for ${f.pauseMs} ms (${f.kind === "pause-leader" ? "leads" : "follows"} p${f.partition})`;
      start = () => void target.child?.kill("SIGSTOP");
      heal = () => void target.child?.kill("SIGCONT");
      f = { ...f, holdMs: f.pauseMs };
      break;
    }
  }
  const affected = leaders.flatMap((l, p) => (cut.includes(l) ? [p] : []));
  if (f.kind !== "kill-leader" && f.kind !== "slow-leader")
    fault += affected.length
      ? `, cuts off the leaders of ${affected.map((p) => `p${p}`).join(", ")}`
      : ", cuts off no leader";
  const at = performance.now();
  history.record({ type: "nemesis", phase: "start", fault });
  await start();
  const observers = cluster.nodes.filter((n) => n.child && !cut.includes(n.id));
  const [resumeMs, electedMs] = await Promise.all([
    waitAllResumed(pubs, at, 20_000),
    Promise.all(affected.map((p) => waitNewLeader(cluster, topic, p, leaders[p]!, observers, at, 20_000))),
  ]);
  await sleep(Math.max(0, f.holdMs - (performance.now() - at)));
  history.record({ type: "nemesis", phase: "heal", fault });
  await heal();
  const afterHealMs = await waitAllResumed(pubs, performance.now(), 20_000);
  return { kind: f.kind, fault, affected, electedMs, resumeMs, afterHealMs };
}
