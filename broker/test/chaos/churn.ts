import { Code, ConnectError } from "@connectrpc/connect";
import { MemberRole, NodeState } from "../../../gen/geobroker/v1/cluster_pb.js";
import type { ProcessCluster, ProcessNode } from "../support/process-cluster.js";
import type { Fault } from "./schedule.js";
import { clientsOf, sleep } from "./workload.js";

// Membership churn through the admin API the operator drives (ClusterService): move a partition's
// leadership, then either add a node (AddNode, then PromoteNode once it caught up) or, when a region
// has a node to spare, drain one of its nodes and remove it. Run while another fault goes on
// (nemeses.ts): each call goes to the live nodes in turn and is retried while the cluster answers
// that it cannot act yet, as the operator's reconcile loop retries.

type Admin = ReturnType<typeof clientsOf>;

/** Codes that mean "not now" (no leader, cut off, still catching up): the operator retries them. */
const retryable = [Code.FailedPrecondition, Code.Unavailable, Code.DeadlineExceeded, Code.Aborted];

/**
 * Calls `call` at the live nodes in turn until `done` accepts its answer; retries the codes above.
 * Throws, saying what it last heard, after `timeoutMs`, or at once on any other error.
 */
export async function untilDone<T>(
  cluster: ProcessCluster,
  what: string,
  timeoutMs: number,
  call: (c: Admin, opts: { headers: Record<string, string>; timeoutMs: number }) => Promise<T>,
  done: (r: T) => boolean = () => true,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last = "no node running";
  for (let i = 0; ; i++) {
    const live = cluster.nodes.filter((n) => n.child);
    const node = live[i % Math.max(1, live.length)];
    if (node) {
      const c = clientsOf(node);
      try {
        const r = await call(c, { headers: c.headers, timeoutMs: 2000 });
        if (done(r)) return r;
        last = `${node.id}: not yet`;
      } catch (err) {
        const e = ConnectError.from(err);
        if (!retryable.includes(e.code)) throw new Error(`${what}: ${Code[e.code]}: ${e.rawMessage}`);
        last = `${node.id}: ${Code[e.code]}: ${e.rawMessage}`;
      }
    }
    if (performance.now() > deadline)
      throw new Error(`${what} did not finish within ${timeoutMs} ms (last answer ${last.slice(0, 240)})`);
    await sleep(300);
  }
}

/** Moves the leadership of the partition's group to another voter (seeded); says what it did. */
async function moveLeadership(cluster: ProcessCluster, topic: string, f: Fault): Promise<string> {
  try {
    const info = await untilDone(cluster, "GetClusterInfo", 10_000, (c, o) =>
      c.cluster.getClusterInfo({}, o),
    );
    const group = info.groups.find((g) => g.topic === topic && g.partition === f.partition);
    if (!group) return `p${f.partition}: no group`;
    const voters = group.members
      .filter((m) => m.role === MemberRole.VOTER && m.nodeId !== group.leaderNodeId)
      .map((m) => m.nodeId);
    const target = voters[Math.floor(f.churnTarget * voters.length)];
    if (!target) return `p${f.partition}: no other voter`;
    const r = await untilDone(cluster, `TransferLeadership of p${f.partition} to ${target}`, 15_000, (c, o) =>
      c.cluster.transferLeadership({ groupId: group.id, targetNodeId: target }, o),
    );
    return `p${f.partition} leadership ${group.leaderNodeId || "?"} -> ${r.leaderNodeId}`;
  } catch (err) {
    // The target may be the node the concurrent fault cut off: a refusal is an outcome, not a failure.
    return `p${f.partition} leadership not moved: ${(err as Error).message.slice(0, 200)}`;
  }
}

/** Adds a spare node of the fault's region and promotes it to voter. */
async function addNode(cluster: ProcessCluster, region: string): Promise<string> {
  const joined = await cluster.joinSpare(region);
  if (!joined) return `no spare left in ${region}`;
  const { node, address } = joined;
  await untilDone(cluster, `AddNode ${node.id}`, 60_000, (c, o) => c.cluster.addNode({ node: address }, o));
  await cluster.waitReady([node], 90_000);
  // Not NOT_FOUND: a node that has not applied the AddNode yet looks again after a read index
  // (seed 5 once found that answer; cluster-admin.ts requireNode).
  await untilDone(
    cluster,
    `PromoteNode ${node.id}`,
    90_000,
    (c, o) => c.cluster.promoteNode({ nodeId: node.id }, o),
    (r) => r.node?.state === NodeState.VOTER,
  );
  return `added and promoted ${node.id}`;
}

/** Drains a node of a region that has one to spare, removes it and stops it. */
async function removeNode(cluster: ProcessCluster, node: ProcessNode): Promise<string> {
  await untilDone(
    cluster,
    `DrainNode ${node.id}`,
    120_000,
    (c, o) => c.cluster.drainNode({ nodeId: node.id }, o),
    (r) => r.drained,
  );
  await untilDone(cluster, `RemoveNode ${node.id}`, 60_000, (c, o) =>
    c.cluster.removeNode({ nodeId: node.id }, o),
  );
  await cluster.retire(node);
  return `drained and removed ${node.id}`;
}

/**
 * One churn step: the leadership move, then a removal where a region has more nodes than it started
 * with (the node picked by the seed, a spare or an original one), else an addition in the fault's
 * region. The cluster so alternates between its size and one more.
 */
export async function churn(
  cluster: ProcessCluster,
  topic: string,
  f: Fault,
  perRegion: number,
): Promise<string> {
  const moved = await moveLeadership(cluster, topic, f);
  const crowded = [...new Set(cluster.nodes.map((n) => n.region))].find(
    (r) => cluster.nodes.filter((n) => n.region === r).length > perRegion,
  );
  if (!crowded) return `${moved}; ${await addNode(cluster, f.region)}`;
  const candidates = cluster.nodes.filter((n) => n.region === crowded);
  const node = candidates[Math.floor(f.churnTarget * candidates.length)]!;
  return `${moved}; ${await removeNode(cluster, node)}`;
}
