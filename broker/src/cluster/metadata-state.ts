import type { RetentionSpec, TopicSpec } from "../api/engine.js";
import { placeReplicas } from "./placement.js";

// The metadata group's state machine: topics and where their partitions live. Pure and
// deterministic: every replica applies the same commands in the same order to the same result.

export interface NodeInfo {
  id: string;
  region: string;
  zone: string;
  peerAddress: string;
  clientAddress: string;
}

export interface PartitionPlacement {
  partition: number;
  groupId: number;
  replicas: string[];
}

export interface TopicRecord {
  spec: TopicSpec;
  createdAtMicros: number;
  partitions: PartitionPlacement[];
}

export interface MetadataState {
  nextGroupId: number;
  nodes: Record<string, NodeInfo>;
  topics: Record<string, TopicRecord>;
}

export type MetadataCommand =
  | { type: "createTopic"; spec: TopicSpec; atMicros: number; ifAbsent: boolean }
  | { type: "deleteTopic"; name: string }
  | { type: "updateTopic"; name: string; retention?: RetentionSpec; homeRegion?: string };

export type MetadataError = { code: "not_found" | "already_exists" | "failed_precondition"; message: string };
export type MetadataResult = { ok: true; topic?: TopicRecord } | { ok: false; error: MetadataError };

/** Group 0 is the metadata group; data groups count up from 1. */
export const metadataGroupId = 0;

export function initialMetadataState(nodes: NodeInfo[]): MetadataState {
  return { nextGroupId: 1, nodes: Object.fromEntries(nodes.map((n) => [n.id, n])), topics: {} };
}

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
      const nodes = Object.values(state.nodes);
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
        partitions.push({ partition: p, groupId: state.nextGroupId++, replicas });
      }
      const topic: TopicRecord = { spec: cmd.spec, createdAtMicros: cmd.atMicros, partitions };
      state.topics[cmd.spec.name] = topic;
      return { ok: true, topic };
    }
    case "deleteTopic": {
      if (!state.topics[cmd.name])
        return { ok: false, error: { code: "not_found", message: `topic ${cmd.name} does not exist` } };
      delete state.topics[cmd.name];
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
  }
}
