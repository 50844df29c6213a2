import type { RetentionSpec, TopicSpec } from "../../engine/engine.js";
import {
  applyConsumerCommand,
  type ConsumerCommand,
  type ConsumerRecord,
  dropConsumersOf,
} from "../consumers/consumer-records.js";
import { applyRegisterIncarnation, type RegisterIncarnation } from "./incarnations.js";
import { placeReplicas } from "./placement.js";
import { applySecurityCommand, type SecurityCommand, type SecurityState } from "./users-state.js";

// The metadata group's state machine: topics and where their partitions live. Pure and
// deterministic: every replica applies the same commands in the same order to the same result.

export interface NodeAddress {
  id: string;
  region: string;
  zone: string;
  peerAddress: string;
  clientAddress: string;
}

/**
 * A node's place in the cluster: `learner` (added, receiving the metadata log, no data yet), `voter`
 * (full member: placement puts replicas on it), `draining` (replicas and leaderships move away),
 * `drained` (nothing left on it: it may be removed).
 */
export type NodeState = "learner" | "voter" | "draining" | "drained";

export interface NodeInfo extends NodeAddress {
  state: NodeState;
  /** The node's current incarnation, once it registered it (readmission.ts). */
  incarnation?: string;
  /** Whether that incarnation may act on membership that names none. */
  original?: boolean;
}

export interface PartitionPlacement {
  partition: number;
  groupId: number;
  /** The replicas the group should have (the leader changes its Raft configuration to match). */
  replicas: string[];
  /**
   * The group's first voters, written in its log by each of them at creation; never changes. A node
   * that joins later starts the group empty and learns the configuration from the log.
   */
  initial: string[];
  /** A replica move is under way (set by moveReplica, cleared once the group's leader settles it). */
  moving?: { from: string; to: string };
}

export interface TopicRecord {
  spec: TopicSpec;
  createdAtMicros: number;
  /** Who created it (the principal's name), for quotas per principal; absent on older records. */
  owner?: string;
  partitions: PartitionPlacement[];
}

export interface MetadataState {
  nextGroupId: number;
  nodes: Record<string, NodeInfo>;
  topics: Record<string, TopicRecord>;
  /** Durable consumers by `<topic>/<name>` (consumer-records.ts). */
  consumers: Record<string, ConsumerRecord>;
  /** Users and grants (users-state.ts); absent until the first security command. */
  security?: SecurityState;
}

export type MetadataCommand =
  | { type: "createTopic"; spec: TopicSpec; atMicros: number; ifAbsent: boolean; owner?: string }
  | { type: "deleteTopic"; name: string }
  | { type: "updateTopic"; name: string; retention?: RetentionSpec; homeRegion?: string }
  | { type: "addNode"; node: NodeAddress }
  | { type: "setNodeState"; id: string; state: NodeState }
  | { type: "removeNode"; id: string }
  | { type: "moveReplica"; groupId: number; from: string; to: string }
  | { type: "settleMove"; groupId: number; from: string; to: string }
  /** Puts a replica first: the group's preferred leader, which its current leader hands over to. */
  | { type: "setPreferredLeader"; groupId: number; nodeId: string }
  | RegisterIncarnation
  | ConsumerCommand
  | SecurityCommand;

export type MetadataError = { code: "not_found" | "already_exists" | "failed_precondition"; message: string };
export type MetadataResult =
  | { ok: true; topic?: TopicRecord; consumer?: ConsumerRecord }
  | { ok: false; error: MetadataError };

/** Group 0 is the metadata group; data groups count up from 1. */
export const metadataGroupId = 0;

export function initialMetadataState(nodes: NodeAddress[]): MetadataState {
  return {
    nextGroupId: 1,
    nodes: Object.fromEntries(nodes.map((n) => [n.id, { ...n, state: "voter" as const }])),
    topics: {},
    consumers: {},
  };
}

/** Nodes that take new replicas. */
export function placementNodes(state: MetadataState): NodeInfo[] {
  return Object.values(state.nodes).filter((n) => n.state === "voter");
}

export function findPartition(
  state: MetadataState,
  groupId: number,
): { topic: TopicRecord; placement: PartitionPlacement } | undefined {
  for (const topic of Object.values(state.topics)) {
    const placement = topic.partitions.find((p) => p.groupId === groupId);
    if (placement) return { topic, placement };
  }
  return undefined;
}

const fail = (code: MetadataError["code"], message: string): MetadataResult => ({
  ok: false,
  error: { code, message },
});

export function replicaLoad(state: MetadataState): Map<string, number> {
  const load = new Map<string, number>();
  for (const t of Object.values(state.topics)) {
    for (const p of t.partitions) for (const r of p.replicas) load.set(r, (load.get(r) ?? 0) + 1);
  }
  return load;
}

/** Applies one command in place and says what happened. */
export function applyMetadataCommand(state: MetadataState, cmd: MetadataCommand): MetadataResult {
  switch (cmd.type) {
    case "createTopic": {
      const existing = state.topics[cmd.spec.name];
      if (existing) {
        return cmd.ifAbsent
          ? { ok: true, topic: existing }
          : {
              ok: false,
              error: { code: "already_exists", message: `topic ${cmd.spec.name} already exists` },
            };
      }
      const nodes = placementNodes(state);
      if (cmd.spec.homeRegion && !nodes.some((n) => n.region === cmd.spec.homeRegion)) {
        const regions = [...new Set(nodes.map((n) => n.region))].sort().join(", ");
        return {
          ok: false,
          error: {
            code: "failed_precondition",
            message: `home region ${cmd.spec.homeRegion} has no nodes; regions: ${regions}`,
          },
        };
      }
      if (cmd.spec.replicationFactor > nodes.length) {
        return {
          ok: false,
          error: {
            code: "failed_precondition",
            message: `replication factor ${cmd.spec.replicationFactor} needs ${cmd.spec.replicationFactor} nodes; the cluster has ${nodes.length}`,
          },
        };
      }
      const load = replicaLoad(state);
      const partitions: PartitionPlacement[] = [];
      for (let p = 0; p < cmd.spec.partitions; p++) {
        const replicas = placeReplicas(nodes, cmd.spec.replicationFactor, load, cmd.spec.homeRegion);
        for (const r of replicas) load.set(r, (load.get(r) ?? 0) + 1);
        partitions.push({ partition: p, groupId: state.nextGroupId++, replicas, initial: [...replicas] });
      }
      const topic: TopicRecord = {
        spec: cmd.spec,
        createdAtMicros: cmd.atMicros,
        partitions,
        ...(cmd.owner ? { owner: cmd.owner } : {}),
      };
      state.topics[cmd.spec.name] = topic;
      return { ok: true, topic };
    }
    case "deleteTopic": {
      if (!state.topics[cmd.name])
        return { ok: false, error: { code: "not_found", message: `topic ${cmd.name} does not exist` } };
      delete state.topics[cmd.name];
      dropConsumersOf(state.consumers, cmd.name);
      return { ok: true };
    }
    case "updateTopic": {
      const topic = state.topics[cmd.name];
      if (!topic)
        return { ok: false, error: { code: "not_found", message: `topic ${cmd.name} does not exist` } };
      if (cmd.retention) topic.spec = { ...topic.spec, retention: cmd.retention };
      if (cmd.homeRegion !== undefined) topic.spec = { ...topic.spec, homeRegion: cmd.homeRegion };
      return { ok: true, topic };
    }
    case "addNode": {
      const existing = state.nodes[cmd.node.id];
      // Idempotent: adding a node again only refreshes its addresses.
      // (Its registered incarnation stays: the node registers once, not after every AddNode.)
      state.nodes[cmd.node.id] = { ...existing, ...cmd.node, state: existing?.state ?? "learner" };
      return { ok: true };
    }
    case "setNodeState": {
      const node = state.nodes[cmd.id];
      if (!node) return fail("not_found", `node ${cmd.id} is not a member`);
      node.state = cmd.state;
      return { ok: true };
    }
    case "removeNode": {
      if (!state.nodes[cmd.id]) return { ok: true };
      const holding = groupsOnNode(state, cmd.id);
      if (holding.length > 0)
        return fail(
          "failed_precondition",
          `node ${cmd.id} still holds replicas of group(s) ${holding.join(", ")}: drain it first`,
        );
      delete state.nodes[cmd.id];
      return { ok: true };
    }
    case "moveReplica": {
      const found = findPartition(state, cmd.groupId);
      if (!found) return fail("not_found", `group ${cmd.groupId} does not exist`);
      const p = found.placement;
      if (p.moving) return fail("failed_precondition", `group ${cmd.groupId} is already moving a replica`);
      if (!p.replicas.includes(cmd.from) || p.replicas.includes(cmd.to))
        return fail("failed_precondition", `group ${cmd.groupId}: cannot move ${cmd.from} -> ${cmd.to}`);
      if (state.nodes[cmd.to]?.state !== "voter")
        return fail("failed_precondition", `node ${cmd.to} does not take replicas`);
      p.replicas = p.replicas.map((r) => (r === cmd.from ? cmd.to : r));
      p.moving = { from: cmd.from, to: cmd.to };
      return { ok: true };
    }
    case "setPreferredLeader": {
      const p = findPartition(state, cmd.groupId)?.placement;
      if (!p) return fail("not_found", `group ${cmd.groupId} does not exist`);
      if (!p.replicas.includes(cmd.nodeId))
        return fail("failed_precondition", `${cmd.nodeId} is not a replica of group ${cmd.groupId}`);
      p.replicas = [cmd.nodeId, ...p.replicas.filter((r) => r !== cmd.nodeId)];
      return { ok: true };
    }
    case "createConsumer":
    case "deleteConsumer":
    case "consumerProgress":
      return applyConsumerCommand(state.consumers, (name) => state.topics[name] !== undefined, cmd);
    case "registerIncarnation":
      return applyRegisterIncarnation(state.nodes, cmd);
    case "putUser":
    case "deleteUser":
    case "putGrants":
    case "deleteGrants":
    case "putRole":
    case "deleteRole":
    case "replaceSecurity":
      return applySecurityCommand(state, cmd);
    case "settleMove": {
      const p = findPartition(state, cmd.groupId)?.placement;
      if (p?.moving && p.moving.from === cmd.from && p.moving.to === cmd.to) delete p.moving;
      return { ok: true };
    }
  }
}

/** Groups whose placement still has (or is moving away from) a replica on the node. */
export function groupsOnNode(state: MetadataState, id: string): number[] {
  const out: number[] = [];
  for (const t of Object.values(state.topics))
    for (const p of t.partitions) if (p.replicas.includes(id) || p.moving?.from === id) out.push(p.groupId);
  return out;
}
