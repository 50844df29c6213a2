import { MemberRole } from "../../../gen/geobroker/v1/cluster_pb.js";
import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import { clientsOf } from "./workload.js";

// When a fault leaves a partition without a new leader, the run says why it could not elect one:
// the group as each node on the majority side sees it (voters, learners, term, leader) and what its
// Raft core logged about the group (campaigns, refused votes, admission). A stuck group was once
// reported only as "new leader after never", which left nothing to diagnose it from.

/** Lines that describe `partition`'s group on `observers` (best effort: a node that cannot answer says so). */
export async function describeStuckGroup(
  cluster: ProcessCluster,
  topic: string,
  partition: number,
  observers: ProcessNode[],
): Promise<string[]> {
  const out: string[] = [];
  let groupId: bigint | undefined;
  for (const n of observers) {
    const c = clientsOf(n);
    try {
      const t = await c.topics.getTopic({ name: topic }, { headers: c.headers, timeoutMs: 2000 });
      const p = t.topic?.partitionInfo.find((x) => x.partition === partition);
      groupId ??= p?.groupId;
      const info = await c.cluster.getClusterInfo({}, { headers: c.headers, timeoutMs: 3000 });
      const g = info.groups.find((x) => x.id === p?.groupId);
      const members = g?.members
        .map(
          (m) => `${m.nodeId}${m.role === MemberRole.LEARNER ? "(learner)" : ""}${m.stale ? "(stale)" : ""}`,
        )
        .join(",");
      out.push(
        `${n.id} sees p${partition} (group ${p?.groupId}): placement [${p?.replicaNodeIds.join(",")}], leader "${g?.leaderNodeId ?? ""}" term ${g?.term}, members [${members}]`,
      );
    } catch (err) {
      out.push(`${n.id}: cannot describe p${partition}: ${(err as Error).message}`);
    }
  }
  if (groupId === undefined) return out;
  const mark = [`group ${groupId}`, `"group":${groupId},`, `"group":${groupId}}`];
  for (const n of cluster.nodes) {
    const lines = n.log.filter((l) => mark.some((m) => l.includes(m))).slice(-12);
    for (const l of lines) out.push(`${n.id} log: ${l.slice(0, 400)}`);
  }
  return out;
}

/**
 * What keeps the cluster from being whole, as seen from `n`: a group without a leader, a learner, a
 * stale member (it lost its state and awaits re-admission: it cannot vote), or a partition whose
 * voters are not its placement. Empty: every group tolerates the loss of any one member.
 */
async function notWhole(n: ProcessNode, topic: string): Promise<string[]> {
  const c = clientsOf(n);
  const o = { headers: c.headers, timeoutMs: 3000 };
  const [info, t] = await Promise.all([
    c.cluster.getClusterInfo({}, o),
    c.topics.getTopic({ name: topic }, o),
  ]);
  const placement = new Map(t.topic?.partitionInfo.map((p) => [p.groupId, [...p.replicaNodeIds].sort()]));
  const out: string[] = [];
  for (const g of info.groups) {
    const name = g.topic === "metadata" ? "metadata" : `p${g.partition}`;
    if (!g.leaderNodeId) out.push(`${name}: no leader`);
    for (const m of g.members) {
      if (m.role === MemberRole.LEARNER) out.push(`${name}: ${m.nodeId} is a learner`);
      if (m.stale) out.push(`${name}: ${m.nodeId} lost its state, awaits re-admission`);
    }
    const want = placement.get(g.id);
    const voters = g.members
      .filter((m) => m.role === MemberRole.VOTER)
      .map((m) => m.nodeId)
      .sort();
    if (want && want.join() !== voters.join()) out.push(`${name}: voters [${voters}], placement [${want}]`);
  }
  return out;
}

/**
 * Waits until the cluster is whole again (notWhole), asking the running nodes in turn; resolves with
 * what was still missing at the deadline (empty when it became whole). A fault injected before that
 * is a second fault in a group already down a member: a replica that lost its disk and is being
 * re-admitted leaves its groups with two voters that can elect, and a 3-replica group rightly elects
 * nobody after losing one of those too (docs/fault-injection.md, "Between faults").
 */
export async function waitWhole(
  cluster: ProcessCluster,
  topic: string,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  let missing: string[] = ["not asked yet"];
  for (let i = 0; ; i++) {
    const live = cluster.nodes.filter((n) => n.child && n.child.exitCode === null);
    const n = live[i % Math.max(1, live.length)];
    try {
      if (n) missing = await notWhole(n, topic);
    } catch (err) {
      missing = [`${n?.id}: ${(err as Error).message}`];
    }
    if (missing.length === 0 || performance.now() > deadline) return missing;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Until a node restarted on an empty data directory has registered its new incarnation (its log
 * says so): only then do the groups' leaders see it as stale (waitWhole) and start re-admitting it.
 * Before that, the cluster can look whole while the node can vote nowhere.
 */
export async function waitRegistered(n: ProcessNode, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const identity = n.log.findLast((l) => l.includes('"message":"node identity"'));
    const incarnation = identity?.match(/"incarnation":"([^"]+)"/)?.[1];
    const registered = n.log.some(
      (l) => l.includes("registered this node's incarnation") && incarnation && l.includes(incarnation),
    );
    if (registered) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
