import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import type { LossyDisks } from "./lossy-disk.js";
import type { Plan } from "./nemeses.js";
import type { Fault } from "./schedule.js";

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

const exited = (n: ProcessNode) => n.child !== undefined && n.child.exitCode !== null;

export function diskFault(
  cluster: ProcessCluster,
  f: Fault,
  leader: ProcessNode,
  disks: LossyDisks,
  restart: (n: ProcessNode) => Promise<void>,
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
      await disks.command(target, `${what} off`);
      const gone = exited(target);
      diskOutcomes.push(
        `${target.id} ${what}: ${gone ? `exited with ${target.child?.exitCode}` : "kept running"}; its log: ${said().slice(0, 300) || "(nothing about it)"}`,
      );
      if (gone) await restart(target); // as its supervisor (Kubernetes) would
    },
    holdMs: f.holdMs,
  };
}
