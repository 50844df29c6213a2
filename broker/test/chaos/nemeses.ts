import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { delay, reset } from "../support/fault-proxy.js";
import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import { damage } from "./disk-damage.js";
import type { Fault } from "./schedule.js";

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
}

/** What each corrupt-follower fault did and how the node took it, for the run's log. */
export const damageOutcomes: string[] = [];

/** Nodes that are SIGSTOPped now: they must be continued before anything else is sent to them. */
export const paused = new Set<ProcessNode>();

export function plan(cluster: ProcessCluster, f: Fault, leader: ProcessNode | undefined): Plan {
  const net = cluster.network!;
  const target = leader!;
  const restart = async (n: ProcessNode, env: Record<string, string> = {}) => {
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
          rmSync(node.dataDir, { recursive: true, force: true });
          mkdirSync(node.dataDir, { recursive: true });
          await restart(node);
        },
        holdMs: hold,
      };
    }
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

const faketimeLibs = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
];

/** The environment that runs a broker process with its wall clock `offsetMs` off (Debian: faketime). */
export function skewedClockEnv(offsetMs: number): Record<string, string> {
  const lib = faketimeLibs.find((l) => existsSync(l));
  if (!lib)
    throw new Error("clock-skew needs libfaketime (Debian: apt-get install faketime; .ci/run installs it)");
  const seconds = Math.round(offsetMs / 1000);
  return {
    // Alone: with jemalloc preloaded too, libfaketime recurses into clock_gettime and gives up.
    LD_PRELOAD: lib,
    FAKETIME: `${seconds < 0 ? "-" : "+"}${Math.abs(seconds)}s`,
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
  };
}
