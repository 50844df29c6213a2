import { create } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClusterService, MemberRole, NodeSchema, NodeState } from "../../../gen/geobroker/v1/cluster_pb.js";
import type { PeerEntry } from "../model/broker-config.js";
import type { BrokerNodeState, ObservedBroker } from "../plan/observed.js";
import type { MembershipAction } from "../plan/planner.js";

// The broker's ClusterService as the planner sees it: cluster info turned into ObservedBroker,
// membership actions turned into calls. Every call is idempotent on the broker side, so a call
// repeated after an operator crash is harmless.

export interface BrokerAdmin {
  observe(): Promise<ObservedBroker>;
  execute(action: Exclude<MembershipAction, { kind: "DeletePod" }>): Promise<string>;
  close(): void;
}

export interface AdminTls {
  ca: string;
  cert: string;
  key: string;
}

export const adminCallTimeoutMs = 10_000;

export function adminTransport(baseUrl: string, tls?: AdminTls): Transport {
  return createGrpcTransport({
    baseUrl,
    ...(tls ? { nodeOptions: { ca: tls.ca, cert: tls.cert, key: tls.key } } : {}),
    defaultTimeoutMs: adminCallTimeoutMs,
    // Reconciles come every few seconds while a step runs, rarely otherwise: do not hold idle sessions.
    idleConnectionTimeoutMs: 60_000,
  });
}

const nodeStates: Record<NodeState, BrokerNodeState> = {
  [NodeState.UNSPECIFIED]: "unknown",
  [NodeState.LEARNER]: "learner",
  [NodeState.VOTER]: "voter",
  [NodeState.DRAINING]: "draining",
  [NodeState.DRAINED]: "drained",
};

export class ClusterServiceAdmin implements BrokerAdmin {
  private readonly client;

  constructor(
    transport: Transport,
    private readonly endpoint: string,
    private readonly onClose: () => void = () => {},
  ) {
    this.client = createClient(ClusterService, transport);
  }

  async observe(): Promise<ObservedBroker> {
    try {
      const info = await this.client.getClusterInfo({}, callOptions());
      return {
        reachable: true,
        nodes: info.nodes.map((n) => ({
          id: n.id,
          region: n.region,
          state: nodeStates[n.state] ?? "unknown",
          reachable: n.reachable,
        })),
        groups: info.groups.map((g) => ({
          id: g.id,
          topic: g.topic,
          leader: g.leaderNodeId,
          members: g.members.map((m) => ({
            nodeId: m.nodeId,
            role: m.role === MemberRole.LEARNER ? ("learner" as const) : ("voter" as const),
            lagEntries: m.lagEntries,
          })),
        })),
      };
    } catch (err) {
      return { reachable: false, error: `${this.endpoint}: ${describeConnectError(err)}` };
    }
  }

  /** Runs one action; resolves to a short result for logs, throws a ConnectError when it failed. */
  async execute(action: Exclude<MembershipAction, { kind: "DeletePod" }>): Promise<string> {
    switch (action.kind) {
      case "AddNode": {
        const r = await this.client.addNode({ node: nodeOf(action.node) }, callOptions());
        return `added ${r.node?.id ?? action.node.id} as ${nodeStates[r.node?.state ?? NodeState.UNSPECIFIED]}`;
      }
      case "PromoteNode": {
        const r = await this.client.promoteNode({ nodeId: action.nodeId }, callOptions());
        return `promoted ${action.nodeId}: now ${nodeStates[r.node?.state ?? NodeState.UNSPECIFIED]}`;
      }
      case "DrainNode": {
        const r = await this.client.drainNode({ nodeId: action.nodeId }, callOptions());
        return r.drained
          ? `${action.nodeId} drained`
          : `${action.nodeId} draining, ${r.remainingGroupIds.length} group(s) left`;
      }
      case "RemoveNode":
        await this.client.removeNode({ nodeId: action.nodeId }, callOptions());
        return `removed ${action.nodeId}`;
      case "TransferLeadership": {
        const r = await this.client.transferLeadership(
          { groupId: action.groupId, targetNodeId: action.targetNodeId },
          callOptions(),
        );
        return `group ${action.groupId} now led by ${r.leaderNodeId || action.targetNodeId}`;
      }
    }
  }

  close(): void {
    this.onClose();
  }
}

function callOptions(): CallOptions {
  return { timeoutMs: adminCallTimeoutMs };
}

function nodeOf(peer: PeerEntry) {
  return create(NodeSchema, {
    id: peer.id,
    region: peer.region,
    zone: peer.zone,
    peerAddress: peer.peerAddress,
    clientAddress: peer.clientAddress,
    state: NodeState.LEARNER,
  });
}

/** FAILED_PRECONDITION means "not yet" (the broker says what is missing): retry later, not an outage. */
export function isNotYet(err: unknown): boolean {
  return ConnectError.from(err).code === Code.FailedPrecondition;
}

export function describeConnectError(err: unknown): string {
  const e = ConnectError.from(err);
  return `${Code[e.code]}: ${e.rawMessage}`;
}
