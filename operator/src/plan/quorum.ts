import type { BrokerGroup, BrokerNode } from "./observed.js";

// Majority arithmetic over what the broker reports. Every step that takes a voter away, for good
// (RemoveNode) or for a while (a pod restart), is checked here against the metadata group (all
// voters) and against each data group the node votes in, with the members that answer right now.

export const majority = (voters: number) => Math.floor(voters / 2) + 1;

/** Raft voters of the metadata group: every member but learners; a drained node votes until removed. */
export function metadataVoters(nodes: BrokerNode[]): BrokerNode[] {
  return nodes.filter((n) => n.state !== "learner");
}

/** True when a majority of the metadata group's voters answers: membership changes can commit. */
export function hasMajority(nodes: BrokerNode[]): boolean {
  const voters = metadataVoters(nodes);
  return voters.filter((n) => n.reachable).length >= majority(voters.length);
}

interface Electorate {
  label: string;
  voters: string[];
}

function electorates(nodes: BrokerNode[], groups: BrokerGroup[], nodeId: string): Electorate[] {
  const out: Electorate[] = [{ label: "the metadata group", voters: metadataVoters(nodes).map((n) => n.id) }];
  for (const g of groups) {
    if (g.topic === "metadata") continue;
    const voters = g.members.filter((m) => m.role === "voter").map((m) => m.nodeId);
    if (voters.includes(nodeId)) out.push({ label: `group ${g.id} (${g.topic})`, voters });
  }
  return out;
}

/**
 * Why taking `nodeId` away could cost a group its majority, or undefined when it is safe.
 * `remove`: the node leaves the voters (the majority is counted over the rest); `stop`: the node
 * stays a voter but does not answer for a while (a restart).
 */
export function majorityLoss(
  nodes: BrokerNode[],
  groups: BrokerGroup[],
  nodeId: string,
  how: "remove" | "stop",
): string | undefined {
  const reachable = new Set(nodes.filter((n) => n.reachable).map((n) => n.id));
  for (const e of electorates(nodes, groups, nodeId)) {
    const isVoter = e.voters.includes(nodeId);
    const rest = e.voters.filter((id) => id !== nodeId);
    if (how === "remove") {
      if (isVoter && rest.length === 0) return "it is the last voter";
      const down = rest.filter((id) => !reachable.has(id));
      const need = majority(rest.length);
      if (rest.length - down.length < need) {
        return `${down.length} of the ${rest.length} remaining voters of ${e.label} are unreachable (${down.join(", ")}); a majority of ${need} would not be left`;
      }
    } else if (isVoter) {
      const up = rest.filter((id) => reachable.has(id));
      const need = majority(e.voters.length);
      if (up.length < need) {
        const down = rest.filter((id) => !reachable.has(id));
        return `restarting ${nodeId} would leave ${up.length} of ${e.voters.length} voters of ${e.label} answering, fewer than a majority of ${need}${down.length > 0 ? `; unreachable: ${down.join(", ")} (remove a lost node first, confirmed with the geobroker.io/force-remove annotation)` : ""}`;
      }
    }
  }
  return undefined;
}

/** Why removing `victim` could cost a majority, or undefined when it is safe (metadata group only). */
export function quorumRisk(nodes: BrokerNode[], victim: string): string | undefined {
  return majorityLoss(nodes, [], victim, "remove");
}

/** The largest lag of `nodeId` over the groups where it has `role`. */
export function lagOf(nodeId: string, groups: BrokerGroup[], role: "voter" | "learner" | "any"): bigint {
  let lag = 0n;
  for (const g of groups) {
    for (const m of g.members)
      if (m.nodeId === nodeId && (role === "any" || m.role === role) && m.lagEntries > lag)
        lag = m.lagEntries;
  }
  return lag;
}
