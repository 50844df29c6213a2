import { Code, ConnectError } from "@connectrpc/connect";
import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import type { LossyDisks } from "./lossy-disk.js";
import type { Plan } from "./nemeses.js";
import type { Fault } from "./schedule.js";
import { clientsOf, sleep } from "./workload.js";

// The nemeses on lossyfs (lossy-disk.ts):
// - power-loss: kill -9 a partition's leader (alone, or with a node of another region: a coordinated
//   loss of two of the group's three replicas), drop every write they had not fsynced, and after the
//   hold start them again on what their disks kept. Acknowledged data was fsynced on a quorum before
//   the ack (docs/decisions/0028), so nothing acknowledged may be missing afterwards.
// - disk-full / disk-eio: the leader's disk answers writes with ENOSPC (or writes and fsyncs with
//   EIO) for the hold, then works again. The node must stop taking writes with a clear error and
//   lose its leaderships, and must be serving again after the heal without losing acknowledged data.

/** What each disk fault did and how the node took it, for the run's log. */
export const diskOutcomes: string[] = [];
/** What a node did wrong under disk-full or disk-eio (the test asserts there is nothing). */
export const diskProblems: string[] = [];

/**
 * What a publish at the node with the failed disk is answered: it must be refused with UNAVAILABLE
 * naming the storage failure (retry elsewhere), not hang, not be acknowledged, not find a dead port.
 */
async function refusal(n: ProcessNode, topic: string, partition: number): Promise<string | undefined> {
  const c = clientsOf(n);
  try {
    await c.publish.publish(
      { topic, partition, body: new TextEncoder().encode("disk-probe") },
      { headers: c.headers, timeoutMs: 3000 },
    );
    return "a publish at it was acknowledged while its disk failed";
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code === Code.Unavailable && /storage failed/.test(e.rawMessage)) return undefined;
    return `a publish at it was answered ${Code[e.code]}: ${e.rawMessage.slice(0, 160)}`;
  }
}

const exited = (n: ProcessNode) => n.child !== undefined && n.child.exitCode !== null;

export function diskFault(
  cluster: ProcessCluster,
  f: Fault,
  leader: ProcessNode,
  disks: LossyDisks,
  restart: (n: ProcessNode) => Promise<void>,
  topic: string,
): Plan {
  const p = `p${f.partition}`;
  const mounted = cluster.nodes.filter((n) => n.child && disks.has(n));
  // A spare that joined later runs on a plain directory: then the fault hits a mounted node instead.
  const target = disks.has(leader) ? leader : mounted[Math.floor(f.follower * mounted.length)]!;
  const role = target === leader ? "leads" : "follows";
  if (f.kind === "power-loss") {
    const others = mounted.filter((n) => n.region !== target.region);
    const victims =
      f.follower >= 0.5 && others.length > 0
        ? [target, others[Math.floor(f.churnTarget * others.length)]!]
        : [target];
    const dropped: string[] = [];
    return {
      fault: `power loss of ${victims.map((n) => n.id).join(" and ")} (${target.id} ${role} ${p}): unsynced writes dropped`,
      cut: victims.map((n) => n.id),
      start: async () => {
        await Promise.all(victims.map((n) => cluster.kill(n)));
        for (const n of victims) dropped.push(`${n.id} ${await disks.command(n, "drop")}`);
      },
      heal: async () => {
        for (const n of victims) await restart(n);
        diskOutcomes.push(`power loss: ${dropped.join("; ")}`);
      },
      holdMs: f.holdMs,
      quorumLost: victims.length > 1, // one replica per region: a group on both lost its majority
    };
  }
  const what = f.kind === "disk-full" ? "enospc" : "eio";
  const said = () => target.log.findLast((l) => /ENOSPC|no space|EIO|input\/output|storage/i.test(l)) ?? "";
  return {
    fault: `${what === "enospc" ? "ENOSPC (disk full)" : "EIO"} on ${target.id}'s disk (${role} ${p})`,
    cut: [target.id],
    start: async () => {
      await disks.command(target, `${what} on`);
    },
    heal: async () => {
      // Still failing: the node must be up and refuse, saying why (the publishers wrote to its
      // partitions all along, so its storage has met the fault by now).
      const problem = exited(target)
        ? `exited (${target.child?.exitCode}) instead of refusing writes; its last lines:\n  ${target.log.slice(-12).join("\n  ")}`
        : await refusal(target, topic, f.partition);
      if (problem) diskProblems.push(`${target.id} under ${what}: ${problem}`);
      await disks.command(target, `${what} off`);
      // Once the disk works again it must serve again: it restarts itself on its storage (exit
      // 75), and its supervisor (here the test, in production Kubernetes) starts it.
      for (const deadline = performance.now() + 10_000; !exited(target) && performance.now() < deadline; )
        await sleep(100);
      const gone = exited(target);
      diskOutcomes.push(
        `${target.id} ${what}: ${gone ? `exited with ${target.child?.exitCode}` : "kept running"}; its log: ${said().slice(0, 300) || "(nothing about it)"}`,
      );
      if (!gone) {
        diskProblems.push(`${target.id} under ${what}: did not restart within 10 s of the disk's recovery`);
        await cluster.kill(target);
      }
      await restart(target);
    },
    holdMs: f.holdMs,
  };
}
