import { ConnectError } from "@connectrpc/connect";
import { failedPrecondition, invalidArgument, notFound, unavailable } from "../../engine/errors.js";
import type { NodeMetricsResult } from "../../engine/node-metrics.js";
import type { ConfChange, GroupId, NodeId } from "../../raft/types.js";
import { type Clock, nowMs, sleep, timeoutSignal } from "../../util/clock.js";
import type { GroupRunner } from "../groups/group-runner.js";
import type { GroupView, InternalReply, InternalRequest, NodeView } from "../peers/internal-requests.js";
import {
  findPartition,
  groupsOnNode,
  type MetadataCommand,
  type MetadataResult,
  type MetadataState,
  metadataGroupId,
  type NodeAddress,
  type NodeInfo,
} from "../state/metadata-state.js";
import { isStale, registrationOf } from "./readmission.js";
import { stuckOn } from "./rebalance.js";
import { removedSelf } from "./removed-self.js";

/** What the admin calls need of the node that serves them. */
export interface AdminNode {
  readonly nodeId: NodeId;
  readonly clock: Clock;
  metadataState(): MetadataState;
  metadataGroup(): GroupRunner;
  localView(): NodeView;
  internal(to: NodeId, request: InternalRequest, timeoutMs?: number): Promise<InternalReply>;
  toGroupLeader(groupId: GroupId, request: InternalRequest): Promise<InternalReply>;
  proposeSystem(command: MetadataCommand): Promise<MetadataResult>;
  waitFor<T>(
    check: () => T | undefined | false,
    timeoutMs: number,
    signal: AbortSignal,
    what: string,
  ): Promise<T>;
}

export interface GroupInfo {
  groupId: number;
  topic: string;
  partition: number;
  homeRegion: string;
  leader: string;
  term: number;
  commit: number;
  /** `stale`: lost its state since the group admitted it, so it cannot vote (readmission.ts). */
  members: { nodeId: string; learner: boolean; match: number; lag: number; stale: boolean }[];
}

export interface ClusterInfo {
  regions: string[];
  nodes: (NodeInfo & { reachable: boolean })[];
  groups: GroupInfo[];
}

/** A learner this far behind the metadata leader (or closer) may be promoted. */
const maxLagToPromote = 64;
const viewTimeoutMs = 1500;

/**
 * The cluster admin calls (ClusterService) in terms of metadata commands and Raft membership changes.
 * Every call is idempotent: repeating one after a crash or a timeout finds the work done and says so.
 * When a call cannot act yet it fails with FAILED_PRECONDITION naming what is missing.
 */
export class ClusterAdmin {
  constructor(private readonly node: AdminNode) {}

  private async propose(command: MetadataCommand): Promise<void> {
    const r = await this.node.proposeSystem(command);
    if (!r.ok) {
      if (r.error.code === "not_found") throw notFound(r.error.message);
      throw failedPrecondition(r.error.message);
    }
  }

  private metadataConf() {
    return this.node.metadataGroup().core.confState();
  }

  /**
   * The node's record. A node this replica does not know may have been added at another node a
   * moment ago (an AddNode this one has not applied yet): it says "not a member" only after a read
   * index, when it has applied everything committed before the call.
   */
  private async requireNode(id: string): Promise<NodeInfo> {
    if (!id) throw invalidArgument("node_id is required");
    const known = this.node.metadataState().nodes[id];
    if (known) return known;
    const timeout = timeoutSignal(this.node.clock, 5000);
    try {
      await this.node.metadataGroup().readIndex(timeout.signal, 5000);
    } finally {
      timeout.cancel();
    }
    const n = this.node.metadataState().nodes[id];
    if (!n) throw notFound(`node ${id} is not a member of the cluster`);
    return n;
  }

  /**
   * A membership change of the metadata group, at its leader. Maintenance changes that group too
   * (re-admitting a node under a new incarnation, readmission.ts), one change at a time: while one
   * of its changes is pending, this one waits its turn for a few seconds.
   */
  private async metadataConfChange(change: ConfChange): Promise<void> {
    const deadline = nowMs(this.node.clock) + 5000;
    for (;;) {
      try {
        await this.node.toGroupLeader(metadataGroupId, {
          type: "confChange",
          groupId: metadataGroupId,
          change,
        });
        return;
      } catch (err) {
        const message = (err as Error).message;
        // Removed already (this node had not applied that yet): a repeated call finds the work done.
        if (change.type === "remove" && message.includes(`${change.nodeId} is not a member`)) return;
        if (!/configuration change is still pending/.test(message) || nowMs(this.node.clock) > deadline)
          throw err;
        await sleep(this.node.clock, 200);
      }
    }
  }

  /** Waits until this node has applied what the metadata leader just committed. */
  private async settled<T>(check: () => T | undefined | false, what: string): Promise<T> {
    const timeout = timeoutSignal(this.node.clock, 5000);
    try {
      return await this.node.waitFor(check, 5000, timeout.signal, what);
    } finally {
      timeout.cancel();
    }
  }

  async addNode(node: NodeAddress): Promise<NodeInfo> {
    for (const [field, value] of Object.entries({
      id: node.id,
      region: node.region,
      peerAddress: node.peerAddress,
      clientAddress: node.clientAddress,
    }))
      if (!value) throw invalidArgument(`node.${field} is required`);
    const known = this.node.metadataState().nodes[node.id];
    if (known && known.region !== node.region)
      throw failedPrecondition(
        `node ${node.id} is already a member in region ${known.region}, not ${node.region}`,
      );
    await this.propose({ type: "addNode", node });
    const conf = this.metadataConf();
    if (!conf.voters.includes(node.id) && !conf.learners.includes(node.id)) {
      // Under its incarnation: registered, or asked of the node itself (it can register only once it is
      // in the group). Added without one it could never vote: maintenance would re-add it under the
      // one it registers later (readmission.ts).
      const incarnation =
        this.node.metadataState().nodes[node.id]?.incarnation ?? (await this.askIncarnation(node.id));
      await this.metadataConfChange({
        type: "addLearner",
        nodeId: node.id,
        ...(incarnation ? { incarnation } : {}),
      });
    }
    return this.settled(() => this.node.metadataState().nodes[node.id], `node ${node.id} to be added`);
  }

  /**
   * The node's incarnation from its own view, once this node has applied its addNode (and so dials
   * it); a node still starting gets a few seconds.
   */
  private async askIncarnation(id: string): Promise<string | undefined> {
    const deadline = nowMs(this.node.clock) + 5000;
    while (nowMs(this.node.clock) < deadline) {
      try {
        await this.settled(() => this.node.metadataState().nodes[id], `node ${id} to be added`);
        const reply = await this.node.internal(id, { type: "view" }, viewTimeoutMs);
        if (reply.type === "view" && reply.view.incarnation) return reply.view.incarnation;
      } catch {
        // not up yet
      }
      await sleep(this.node.clock, 250);
    }
    return undefined;
  }

  async promoteNode(id: string): Promise<NodeInfo> {
    const n = await this.requireNode(id);
    const conf = this.metadataConf();
    if (conf.learners.includes(id)) {
      if (
        isStale(conf, id, registrationOf(n)) ||
        (n.incarnation === undefined && conf.incarnations?.[id] === undefined)
      )
        throw failedPrecondition(
          `learner ${id} is not in the metadata group under its current incarnation yet (it registers once it runs, then is re-added): retry`,
        );
      const view = await this.metadataLeaderView();
      const leaderGroup = view.groups.find((g) => g.groupId === metadataGroupId);
      const member = leaderGroup?.members.find((m) => m.nodeId === id);
      const lag = leaderGroup ? leaderGroup.lastIndex - (member?.match ?? 0) : Number.POSITIVE_INFINITY;
      if (lag > maxLagToPromote)
        throw failedPrecondition(`learner not caught up: ${lag} entries behind the metadata leader`);
      await this.metadataConfChange({ type: "promote", nodeId: id });
    } else if (!conf.voters.includes(id)) {
      throw failedPrecondition(`node ${id} is not in the metadata group yet: AddNode it first`);
    }
    if (n.state === "learner") await this.propose({ type: "setNodeState", id, state: "voter" });
    return this.settled(() => {
      const now = this.node.metadataState().nodes[id];
      return now && now.state !== "learner" && this.metadataConf().voters.includes(id) ? now : undefined;
    }, `node ${id} to be promoted`);
  }

  /** Starts (or checks on) moving everything off a node; `drained` once nothing is left on it. */
  async drainNode(id: string): Promise<{ remaining: number[]; drained: boolean; detail: string }> {
    const n = await this.requireNode(id);
    if (n.state === "voter" || n.state === "learner")
      await this.propose({ type: "setNodeState", id, state: "draining" });
    const state = this.node.metadataState();
    const remaining = groupsOnNode(state, id);
    if (this.node.metadataGroup().leader === id) remaining.unshift(metadataGroupId);
    const stuck = stuckOn(state, id);
    const detail =
      stuck.length > 0
        ? `group(s) ${stuck.join(", ")} have no other node to move to without losing region spread: add a node first`
        : "";
    return { remaining, drained: state.nodes[id]?.state === "drained", detail };
  }

  /** Makes a draining (or drained, not yet removed) node a full voter again; idempotent. */
  async cancelDrain(id: string): Promise<NodeInfo> {
    const n = await this.requireNode(id);
    if (n.state === "learner")
      throw failedPrecondition(`node ${id} is a learner: promote it (PromoteNode) instead`);
    if (n.state !== "voter") await this.propose({ type: "setNodeState", id, state: "voter" });
    return this.settled(() => {
      const now = this.node.metadataState().nodes[id];
      return now?.state === "voter" ? now : undefined;
    }, `node ${id} to take replicas again`);
  }

  async removeNode(id: string): Promise<void> {
    // Asked of the removed node itself, whose own state can never learn the removal: done.
    if (id === this.node.nodeId && removedSelf(this.node.localView(), await this.peerViews())) return;
    const n = this.node.metadataState().nodes[id];
    const conf = this.metadataConf();
    const member = conf.voters.includes(id) || conf.learners.includes(id);
    if (!n && !member) return;
    if (n && n.state !== "drained" && n.state !== "learner")
      throw failedPrecondition(
        `node ${id} is ${n.state}: drain it (DrainNode) until drained, then remove it`,
      );
    if (this.node.metadataGroup().leader === id)
      throw failedPrecondition(`node ${id} leads the metadata group: drain it first`);
    // The node leaves the metadata state first: maintenance re-adds members the state still lists
    // (readmission.ts), and a retry after a crash in between still finds the Raft member to remove.
    if (n) await this.propose({ type: "removeNode", id });
    if (member) await this.metadataConfChange({ type: "remove", nodeId: id });
    // Both are committed at the leader; this node may not have applied them yet. Answering success
    // now would let the caller read the node back from here, still listed.
    try {
      await this.settled(() => !this.listsNode(id), `node ${id} to leave this node's view of the membership`);
    } catch {
      throw unavailable(
        `node ${id} is removed at the metadata leader, but ${this.node.nodeId} still lists it after 5 s (it lags the leader): retry RemoveNode, which finds the work done`,
      );
    }
  }

  /**
   * This node's applied state (what GetClusterInfo lists) or its Raft configuration still has `id`.
   * A removed node's own configuration is left out: the leader stops replicating to it once the
   * removal applies, so it never learns that commit (the state's removeNode came before it does).
   */
  private listsNode(id: string): boolean {
    if (this.node.metadataState().nodes[id] !== undefined) return true;
    if (id === this.node.nodeId) return false;
    const conf = this.metadataConf();
    return conf.voters.includes(id) || conf.learners.includes(id);
  }

  async transferLeadership(groupId: number, to: string): Promise<string> {
    await this.requireNode(to);
    if (groupId !== metadataGroupId && !findPartition(this.node.metadataState(), groupId))
      throw notFound(`group ${groupId} does not exist`);
    const reply = await this.node.toGroupLeader(groupId, { type: "transferLeadership", groupId, to });
    if (reply.type !== "transferred") throw unavailable("unexpected reply to a leadership transfer");
    if (reply.leader !== to)
      throw failedPrecondition(
        `group ${groupId} is still led by ${reply.leader || "nobody"}: ${to} may not be caught up yet; retry`,
      );
    return reply.leader;
  }

  private async metadataLeaderView(): Promise<NodeView> {
    const leader = this.node.metadataGroup().leader;
    if (!leader) throw unavailable("the metadata group has no leader right now; retry");
    const reply = await this.node.internal(leader, { type: "view" }, viewTimeoutMs);
    if (reply.type !== "view") throw unavailable("unexpected reply to a view request");
    return reply.view;
  }

  /**
   * Every node's own metrics (or only `nodeIds`), asked of all at once, each bounded by the view
   * timeout: a node that does not answer is reported with the reason, the others still are.
   */
  async clusterMetrics(nodeIds: readonly NodeId[] = []): Promise<NodeMetricsResult[]> {
    const nodes = this.node.metadataState().nodes;
    const unknown = nodeIds.filter((id) => !nodes[id]);
    if (unknown.length > 0) throw notFound(`no node ${unknown.join(", ")} in this cluster`);
    const ids = nodeIds.length > 0 ? [...new Set(nodeIds)] : Object.keys(nodes).sort();
    return Promise.all(
      ids.map(async (nodeId): Promise<NodeMetricsResult> => {
        const region = nodes[nodeId]?.region ?? "";
        try {
          const reply = await this.node.internal(nodeId, { type: "metrics" }, viewTimeoutMs);
          if (reply.type !== "metrics")
            return { nodeId, region, unavailable: `node ${nodeId} answered ${reply.type}` };
          return { nodeId, region, metrics: reply.metrics };
        } catch (err) {
          return { nodeId, region, unavailable: err instanceof ConnectError ? err.rawMessage : String(err) };
        }
      }),
    );
  }

  /** The view of every node this node's state lists (this one included); undefined where none answered. */
  private peerViews(): Promise<(NodeView | undefined)[]> {
    return Promise.all(
      Object.keys(this.node.metadataState().nodes).map(async (id) => {
        try {
          const reply = await this.node.internal(id, { type: "view" }, viewTimeoutMs);
          return reply.type === "view" ? reply.view : undefined;
        } catch {
          return undefined;
        }
      }),
    );
  }

  /** Every node's view, merged: a group's members and lag come from its leader's view. */
  async clusterInfo(): Promise<ClusterInfo> {
    const state = this.node.metadataState();
    const views = await this.peerViews();
    const answered = new Set(views.filter((v): v is NodeView => v !== undefined).map((v) => v.nodeId));
    const best = new Map<number, GroupView>();
    for (const view of views) {
      for (const g of view?.groups ?? []) {
        const have = best.get(g.groupId);
        const isLeaderView = g.members.length > 0;
        if (
          !have ||
          (isLeaderView && have.members.length === 0) ||
          (!isLeaderView && have.members.length === 0 && g.term > have.term)
        )
          best.set(g.groupId, g);
      }
    }
    const describe = (groupId: number): Pick<GroupInfo, "topic" | "partition" | "homeRegion"> => {
      if (groupId === metadataGroupId) return { topic: "metadata", partition: 0, homeRegion: "" };
      const f = findPartition(state, groupId);
      return {
        topic: f?.topic.spec.name ?? "",
        partition: f?.placement.partition ?? 0,
        homeRegion: f?.topic.spec.homeRegion ?? "",
      };
    };
    const groups: GroupInfo[] = [...best.values()]
      .filter((g) => g.groupId === metadataGroupId || findPartition(state, g.groupId))
      .sort((a, b) => a.groupId - b.groupId)
      .map((g) => {
        const stale = (id: string) => isStale(g.conf, id, registrationOf(state.nodes[id]));
        const members =
          g.members.length > 0
            ? g.members.map((m) => ({
                ...m,
                lag: Math.max(0, g.lastIndex - m.match),
                stale: stale(m.nodeId),
              }))
            : [
                ...g.conf.voters.map((nodeId) => ({ nodeId, learner: false, match: 0, lag: 0 })),
                ...g.conf.learners.map((nodeId) => ({ nodeId, learner: true, match: 0, lag: 0 })),
              ].map((m) => ({ ...m, stale: stale(m.nodeId) }));
        return {
          groupId: g.groupId,
          ...describe(g.groupId),
          leader: g.leader,
          term: g.term,
          commit: g.commit,
          members,
        };
      });
    // A removed node answers with the membership as it is, not its own stale entry.
    const removed = removedSelf(this.node.localView(), views) ? this.node.nodeId : undefined;
    const nodes = Object.values(state.nodes)
      .filter((n) => n.id !== removed)
      .sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id))
      .map((n) => ({ ...n, reachable: answered.has(n.id) }));
    return { regions: [...new Set(nodes.map((n) => n.region))].sort(), nodes, groups };
  }
}
