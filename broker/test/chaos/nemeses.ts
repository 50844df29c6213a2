import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { delay, reset } from "../support/fault-proxy.js";
import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import { churn } from "./churn.js";
import { damage } from "./disk-damage.js";
import { diskFault } from "./disk-faults.js";
import { waitRegistered } from "./group-health.js";
import type { LossyDisks } from "./lossy-disk.js";
import { faketimeLib, unavailable } from "./requirements.js";
import {
  type RetentionRun,
  retentionWindow,
  retryAcked,
  retryOutcomes,
  setRetention,
  shortRetentionMs,
} from "./retention-retry.js";
import type { Fault } from "./schedule.js";
import { sleep as sleepMs } from "./workload.js";

// What each fault kind does to the cluster: its description, the nodes it takes away from the rest,
// and how it starts and heals (docs/fault-injection.md, "Scenarios").

export interface Plan {
  fault: string;
  /** The nodes the fault takes away from the rest (their leaderships must move). */
  cut: string[];
  start: () => Promise<void> | void;
  heal: () => Promise<void> | void;
  /** How long the fault lasts (the schedule's hold, or the pause). */
  holdMs: number;
  /**
   * The fault takes a majority of some group's replicas (a coordinated power loss): that group
   * cannot elect or take writes until the heal, so its recovery is measured from the heal.
   */
  quorumLost?: boolean;
}

/** What each corrupt-follower fault did and how the node took it, for the run's log. */
export const damageOutcomes: string[] = [];

/** Nodes that are SIGSTOPped now: they must be continued before anything else is sent to them. */
export const paused = new Set<ProcessNode>();

/** What membership-churn did per fault, for the run's log. */
export const churnOutcomes: string[] = [];

/** The run's shape, for the faults that need it. */
export interface RunShape extends RetentionRun {
  nodesPerRegion: number;
  /** The nodes' lossyfs mounts, when a disk kind is selected. */
  disks: LossyDisks | undefined;
}

export function plan(
  cluster: ProcessCluster,
  f: Fault,
  leader: ProcessNode | undefined,
  run: RunShape,
): Plan {
  const net = cluster.network!;
  const target = leader!;
  const restart = async (n: ProcessNode, env: Record<string, string> = {}) => {
    if (cluster.retired.includes(n)) return; // removed from the cluster meanwhile (membership-churn)
    cluster.launch(n, env);
    await cluster.waitReady([n]);
  };
  const p = `p${f.partition}`;
  const hold = f.holdMs;
  switch (f.kind) {
    case "kill-leader":
      return {
        fault: `kill -9 ${target.id} (leads ${p})`,
        cut: [target.id],
        start: () => cluster.kill(target),
        heal: () => restart(target),
        holdMs: hold,
      };
    case "partition-region": {
      const cut = cluster.nodes.filter((n) => n.region === f.region).map((n) => n.id);
      return {
        fault: `partition region ${f.region} [${cut.join(", ")}]`,
        cut,
        start: () => net.isolate(cut),
        heal: () => net.heal(),
        holdMs: hold,
      };
    }
    case "isolate-leader":
      return {
        fault: `isolate ${target.id} (leads ${p}) from the majority`,
        cut: [target.id],
        start: () => net.isolate([target.id]),
        heal: () => net.heal(),
        holdMs: hold,
      };
    case "flaky-leader":
      // Every connection to or from the leader is reset as soon as it is made.
      return {
        fault: `reset every peer connection of ${target.id} (leads ${p})`,
        cut: [target.id],
        start: () => net.degrade([target.id], reset),
        heal: () => net.heal(),
        holdMs: hold,
      };
    case "slow-leader":
      // Slow, not cut: the leader keeps its quorum, publishes only get slower.
      return {
        fault: `delay ${f.delayMs} ms each way on every peer link of ${target.id} (leads ${p})`,
        cut: [],
        start: () => net.degrade([target.id], delay(f.delayMs)),
        heal: () => net.heal(),
        holdMs: hold,
      };
    case "pause-leader":
    case "pause-follower": {
      // SIGSTOP: the process keeps its sockets and memory but runs nothing (a GC pause, a VM
      // migration, a stalled disk); SIGCONT resumes it with stale timers and a stale view of the term.
      const followers = cluster.nodes.filter((n) => n.child && n.id !== target.id);
      const node = f.kind === "pause-leader" ? target : followers[Math.floor(f.follower * followers.length)]!;
      return {
        fault: `pause ${node.id} for ${f.pauseMs} ms (${node === target ? "leads" : "follows"} ${p})`,
        cut: [node.id],
        start: () => {
          paused.add(node);
          node.child?.kill("SIGSTOP");
        },
        heal: () => {
          node.child?.kill("SIGCONT");
          paused.delete(node);
        },
        holdMs: f.pauseMs,
      };
    }
    case "corrupt-follower": {
      // A minority node's disk goes bad while it is down: kill -9, damage one RocksDB file, restart.
      // It must refuse (exit, saying why) or be sound; either way it is then wiped and restarted,
      // and comes back as a new incarnation that the leaders re-admit (docs/raft.md).
      const followers = cluster.nodes.filter((n) => n.child && n.id !== target.id);
      const node = followers[Math.floor(f.follower * followers.length)]!;
      const result = { what: "", refused: "" };
      return {
        fault: `${f.damage} on ${node.id} (follows ${p}), restarted`,
        cut: [node.id],
        start: async () => {
          await cluster.kill(node);
          result.what = damage(join(node.dataDir, "rocksdb"), f.damage, f.damageAt);
          cluster.launch(node);
        },
        heal: async () => {
          const exited = node.child?.exitCode !== null && node.child?.exitCode !== undefined;
          result.refused = exited
            ? (node.log.findLast((l) => /cannot start|Corruption|Assertion/.test(l)) ?? "exited")
            : "";
          damageOutcomes.push(
            `${node.id} ${result.what}: ${exited ? `refused: ${result.refused.slice(0, 300)}` : "started"}`,
          );
          await cluster.kill(node);
          if (run.disks?.has(node))
            run.disks.wipe(node); // keep the mount point
          else {
            rmSync(node.dataDir, { recursive: true, force: true });
            mkdirSync(node.dataDir, { recursive: true });
          }
          await restart(node);
          // Healed once the groups can see it is a new incarnation (then waitWhole sees it re-admitted).
          if (!cluster.retired.includes(node) && !(await waitRegistered(node, 30_000)))
            throw new Error(`${node.id}, wiped, did not register its new incarnation within 30 s`);
        },
        holdMs: hold,
      };
    }
    case "membership-churn": {
      // A membership change (churn.ts) while a leader is killed or a region is cut off: the fault
      // lasts until the change is done or 10 s have passed, then heals, and the change must finish.
      const withKill = f.churnWith < 0.5;
      const cut = withKill
        ? [target.id]
        : cluster.nodes.filter((n) => n.region === f.region).map((n) => n.id);
      let change: Promise<string> = Promise.resolve("");
      return {
        fault: `membership churn during ${withKill ? `kill -9 ${target.id} (leads ${p})` : `partition region ${f.region} [${cut.join(", ")}]`}`,
        cut,
        start: async () => {
          if (withKill) await cluster.kill(target);
          else net.isolate(cut);
          change = churn(cluster, run.topic, f, run.nodesPerRegion);
          change.catch(() => {}); // awaited at the heal
        },
        heal: async () => {
          await Promise.race([change.catch(() => {}), sleepMs(10_000)]);
          if (withKill) await restart(target);
          else net.heal();
          churnOutcomes.push(await change);
        },
        holdMs: hold,
      };
    }
    case "retention-retry": {
      // retention-retry.ts: a short age limit, the leader killed and restarted, retried publishes
      // throughout (before, during and 1.5 s after the restart).
      const stop = { done: false };
      let retrying: ReturnType<typeof retryAcked> = Promise.resolve({ answered: 0, moved: 0 });
      return {
        fault: `retention ${shortRetentionMs} ms, kill -9 ${target.id} (leads ${p}), retried publishes`,
        cut: [target.id],
        start: async () => {
          run.history.record({ type: "retention", phase: "start", maxAgeMs: shortRetentionMs });
          retentionWindow.endedAt = Number.POSITIVE_INFINITY;
          await setRetention(cluster, run.topic, shortRetentionMs);
          retrying = retryAcked(cluster, run, f, stop);
          await sleepMs(1500); // retention runs every second: let it cut before the kill
          await cluster.kill(target);
        },
        heal: async () => {
          await restart(target);
          await sleepMs(1500);
          stop.done = true;
          const r = await retrying;
          retryOutcomes.push(
            `${p}: ${r.answered} retries answered, ${r.moved} at another offset than their own`,
          );
          await setRetention(cluster, run.topic, run.retentionMaxAgeMs);
          // A node may apply the long limit a little later: the window ends once every node has it.
          await sleepMs(2000);
          run.history.record({ type: "retention", phase: "end", maxAgeMs: run.retentionMaxAgeMs });
          retentionWindow.endedAt = performance.now();
        },
        holdMs: hold,
      };
    }
    case "power-loss":
    case "disk-full":
    case "disk-eio":
      return diskFault(cluster, f, target, run.disks!, restart, run.topic);
    case "clock-skew": {
      // The leader restarts (kill -9) with its wall clock off by skewMs (libfaketime: Date.now and
      // performance.timeOrigin, so commit timestamps, the dedup window and retention by age; the
      // monotonic clock behind timers is left alone), keeps it for the hold, then restarts with the
      // true clock: a step back (or forward) by the same amount.
      const sign = f.skewMs < 0 ? "-" : "+";
      return {
        fault: `clock of ${target.id} (leads ${p}) ${sign}${Math.abs(f.skewMs) / 1000} s, restarted`,
        cut: [target.id],
        start: async () => {
          await cluster.kill(target);
          await restart(target, skewedClockEnv(f.skewMs));
        },
        heal: async () => {
          await cluster.kill(target);
          await restart(target);
        },
        holdMs: hold,
      };
    }
  }
}

/** The environment that runs a broker process with its wall clock `offsetMs` off (Debian: faketime). */
export function skewedClockEnv(offsetMs: number): Record<string, string> {
  const lib = faketimeLib();
  if (!lib) throw new Error(`clock-skew ${unavailable("clock-skew")}`);
  const seconds = Math.round(offsetMs / 1000);
  return {
    // Alone: with jemalloc preloaded too, libfaketime recurses into clock_gettime and gives up.
    LD_PRELOAD: lib,
    FAKETIME: `${seconds < 0 ? "-" : "+"}${Math.abs(seconds)}s`,
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
  };
}
