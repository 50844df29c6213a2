import { create } from "@bufbuild/protobuf";
import {
  type CallOptions,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClusterService, MemberRole, NodeSchema, NodeState } from "../../../gen/geobroker/v1/cluster_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import type { PeerEntry } from "../model/broker-config.js";
import type { BrokerNodeState, ObservedBroker } from "../plan/observed.js";
import type { MembershipAction } from "../plan/planner.js";

// The broker's ClusterService as the planner sees it: cluster info turned into ObservedBroker,
// membership actions turned into calls. Every call is idempotent on the broker side, so a call
// repeated after an operator crash is harmless.

export interface BrokerAdmin {
  observe(): Promise<ObservedBroker>;
  execute(action: Exclude<MembershipAction, { kind: "DeletePod" }>): Promise<ActionResult>;
  close(): void;
}

export interface ActionResult {
  /** For logs. */
  summary: string;
  /** The broker's own words when the step cannot finish as things are (a stuck drain). */
  stuck?: string;
}

export interface AdminTls {
  ca: string;
  cert: string;
  key: string;
}

export const adminCallTimeoutMs = 10_000;

export function adminTransport(baseUrl: string, tls?: AdminTls, interceptors: Interceptor[] = []): Transport {
  return createGrpcTransport({
    baseUrl,
    interceptors,
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
  private readonly topics;

  constructor(
    transport: Transport,
    private readonly endpoint: string,
    private readonly onClose: () => void = () => {},
  ) {
    this.client = createClient(ClusterService, transport);
    this.topics = createClient(TopicService, transport);
  }

  async observe(): Promise<ObservedBroker> {
    try {
      const info = await this.client.getClusterInfo({}, callOptions());
      const topics = await this.topicList();
      return {
        reachable: true,
        ...(topics ? { topics } : {}),
        nodes: info.nodes.map((n) => ({
          id: n.id,
          region: n.region,
          state: nodeStates[n.state] ?? "unknown",
          reachable: n.reachable,
          ...(n.zone ? { zone: n.zone } : {}),
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

  /** Topics' replication factors for the scale-down check; undefined when they cannot be read. */
  private async topicList() {
    try {
      const r = await this.topics.listTopics({}, callOptions());
      return r.topics.map((t) => ({ name: t.name, replicationFactor: t.replicationFactor }));
    } catch {
      return undefined;
    }
  }

  /** Runs one action; resolves to a short result, throws a ConnectError when it failed. */
  async execute(action: Exclude<MembershipAction, { kind: "DeletePod" }>): Promise<ActionResult> {
    const state = (n: { state?: NodeState } | undefined) => nodeStates[n?.state ?? NodeState.UNSPECIFIED];
    switch (action.kind) {
      case "AddNode": {
        const r = await this.client.addNode({ node: nodeOf(action.node) }, callOptions());
        return { summary: `added ${r.node?.id ?? action.node.id} as ${state(r.node)}` };
      }
      case "PromoteNode": {
        const r = await this.client.promoteNode({ nodeId: action.nodeId }, callOptions());
        return { summary: `promoted ${action.nodeId}: now ${state(r.node)}` };
      }
      case "DrainNode": {
        const r = await this.client.drainNode({ nodeId: action.nodeId }, callOptions());
        const summary = r.drained
          ? `${action.nodeId} drained`
          : `${action.nodeId} draining, ${r.remainingGroupIds.length} group(s) left`;
        return r.detail ? { summary, stuck: r.detail } : { summary };
      }
      case "CancelDrain": {
        const r = await this.client.cancelDrain({ nodeId: action.nodeId }, callOptions());
        return { summary: `drain of ${action.nodeId} cancelled: now ${state(r.node)}` };
      }
      case "RemoveNode":
        await this.client.removeNode({ nodeId: action.nodeId }, callOptions());
        return { summary: `removed ${action.nodeId}` };
      case "TransferLeadership": {
        const r = await this.client.transferLeadership(
          { groupId: action.groupId, targetNodeId: action.targetNodeId },
          callOptions(),
        );
        return { summary: `group ${action.groupId} now led by ${r.leaderNodeId || action.targetNodeId}` };
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
