import {
  errorDetailsOf,
  failedPrecondition,
  type LeaderHint,
  notLeader,
  unavailable,
} from "../../engine/errors.js";
import type { PeerTransportPort } from "../../engine/ports.js";
import { admitted } from "../../raft/incarnation.js";
import type { GroupId, NodeId } from "../../raft/types.js";
import type { MetadataGroup } from "../groups/metadata-group.js";
import { bootstrapLength, isFormed, type NodeIncarnation } from "../membership/node-identity.js";
import { leaderWaitMs, type NodeContext, proposalTimeoutMs } from "../node-context.js";
import {
  findPartition,
  type MetadataCommand,
  type MetadataResult,
  metadataGroupId,
} from "../state/metadata-state.js";
import {
  decodeInternal,
  encodeInternal,
  type GroupView,
  type InternalReply,
  type InternalRequest,
  leaderHintOf,
  type NodeView,
} from "./internal-requests.js";

// Requests between nodes on the peer port (internal-requests.ts): what this node answers (its view,
// formation, proposals and leadership or membership changes for groups it leads), and how it asks
// another node, or a group's leader wherever it is.

/** How long GetTopic waits for other nodes to name leaders it does not know (a slow node is left out). */
const leaderLookupMs = 1000;

export class PeerRequests {
  constructor(
    private readonly ctx: NodeContext,
    private readonly metadataGroup: MetadataGroup,
    private readonly transport: PeerTransportPort,
    private readonly incarnation: NodeIncarnation | undefined,
  ) {
    transport.onControl(async (request) =>
      encodeInternal(await this.serve(decodeInternal<InternalRequest>(request))),
    );
  }

  /** This node's view of every group it runs. */
  localView(): NodeView {
    const { ctx } = this;
    const groups: GroupView[] = [];
    for (const [groupId, runner] of ctx.groups.runners()) {
      const s = runner.core.status();
      const conf = runner.core.confState();
      groups.push({
        groupId,
        leader: runner.leader,
        term: s.term,
        commit: s.commit,
        applied: s.applied,
        lastIndex: s.lastIndex,
        conf,
        members: runner.isLeader
          ? [...s.progress].map(([nodeId, p]) => ({
              nodeId,
              learner: conf.learners.includes(nodeId),
              match: nodeId === ctx.self ? s.lastIndex : p.match,
            }))
          : [],
      });
    }
    const view: NodeView = { nodeId: ctx.self, groups, connected: this.transport.connectedPeers() };
    const mine = this.incarnation;
    if (mine) {
      view.incarnation = mine.incarnation;
      view.rejoining = !admitted(this.metadataGroup.runner.core.confState().incarnations?.[ctx.self], mine);
    }
    return view;
  }

  /**
   * The leaders other nodes see of groups this node does not run (GetTopic on a node with no replica
   * of a partition): each node holding a replica is asked for its view once, all at once, for at most
   * `timeoutMs`. A leader's word about itself wins over a follower's. Groups nobody answered for are
   * missing from the result: their leader is unknown here.
   */
  async leadersElsewhere(
    groups: { groupId: GroupId; replicas: NodeId[] }[],
    timeoutMs = leaderLookupMs,
  ): Promise<Map<GroupId, NodeId>> {
    const wanted = new Set(groups.map((g) => g.groupId));
    const asked = new Set(groups.flatMap((g) => g.replicas).filter((id) => id !== this.ctx.self));
    const found = new Map<GroupId, NodeId>();
    await Promise.all(
      [...asked].map(async (id) => {
        const reply = await this.internal(id, { type: "view" }, timeoutMs).catch(() => undefined);
        if (reply?.type !== "view") return;
        for (const g of reply.view.groups) {
          if (!wanted.has(g.groupId) || !g.leader) continue;
          if (g.leader === id || !found.has(g.groupId)) found.set(g.groupId, g.leader);
        }
      }),
    );
    return found;
  }

  /** Sends an internal request to another node, or handles it here when `to` is this node. */
  async internal(to: NodeId, request: InternalRequest, timeoutMs = 5000): Promise<InternalReply> {
    if (to === this.ctx.self) return this.serve(request);
    try {
      const reply = await this.transport.call(to, encodeInternal(request), timeoutMs);
      return decodeInternal<InternalReply>(reply);
    } catch (err) {
      // The remote refusal's leader hint (a ControlError field) becomes this error's typed detail.
      const hint = leaderHintOf(err);
      throw unavailable(
        `node ${to}: ${(err as Error).message}`,
        { ...errorDetailsOf(err), ...(hint ? { leader: { nodeId: hint } } : {}) },
        err,
      );
    }
  }

  /**
   * A metadata command the cluster itself makes (a move settled, a node drained): proposed here
   * when this node leads the metadata group, else sent to the leader on the peer port.
   */
  async proposeSystem(command: MetadataCommand): Promise<MetadataResult> {
    const runner = this.metadataGroup.runner;
    const leader = await this.ctx.changes.until(
      () => runner.leader || undefined,
      leaderWaitMs,
      undefined,
      "a metadata leader",
    );
    if (leader === this.ctx.self) return this.metadataGroup.propose(command);
    const reply = await this.internal(leader, { type: "propose", command }, proposalTimeoutMs);
    if (reply.type !== "proposed") throw unavailable(`unexpected reply from ${leader}`);
    return reply.result;
  }

  /** Asks a group's leader (found through the replicas when not known here) to act. */
  async toGroupLeader(groupId: GroupId, request: InternalRequest): Promise<InternalReply> {
    const { ctx } = this;
    const known = ctx.groups.runner(groupId)?.leader;
    const metadataLeader = this.metadataGroup.runner.leader;
    const placement = findPartition(ctx.metadata(), groupId)?.placement;
    const candidates = [
      ...(known ? [known] : []),
      ...(groupId === metadataGroupId && metadataLeader ? [metadataLeader] : []),
      ...(placement?.replicas ?? []),
    ];
    let lastError: Error = unavailable(`no leader known for group ${groupId}`);
    for (const candidate of [...new Set(candidates)]) {
      try {
        return await this.internal(candidate, request);
      } catch (err) {
        lastError = err as Error;
        const hinted = errorDetailsOf(err).leader?.nodeId;
        if (hinted && !candidates.includes(hinted)) candidates.push(hinted);
      }
    }
    throw unavailable(`group ${groupId}: ${lastError.message}`);
  }

  private async serve(request: InternalRequest): Promise<InternalReply> {
    const { ctx } = this;
    const metadataRunner = this.metadataGroup.runner;
    switch (request.type) {
      case "view":
        return { type: "view", view: this.localView() };
      case "formation": {
        const initial = ctx.config.peers.map((p) => p.id);
        const formed = isFormed(metadataRunner.core.status(), bootstrapLength(ctx.self, initial));
        return { type: "formation", formed };
      }
      case "propose": {
        if (!metadataRunner.isLeader) throw notLeader("the metadata group", this.hint(metadataRunner.leader));
        return { type: "proposed", result: await this.metadataGroup.propose(request.command) };
      }
      case "transferLeadership": {
        const runner = this.leaderOf(request.groupId);
        if (runner.leader !== request.to) {
          runner.core.transferLeadership(request.to);
          runner.schedule();
          await ctx.changes
            .until(() => runner.leader === request.to || undefined, 3000, undefined, "the transfer")
            .catch(() => undefined);
        }
        return { type: "transferred", leader: runner.leader };
      }
      case "confChange": {
        this.leaderOf(request.groupId).proposeConfChange(request.change);
        return { type: "confChanged" };
      }
      case "metrics": {
        const snapshot = ctx.observer?.snapshot;
        if (!snapshot) throw failedPrecondition(`node ${ctx.self} keeps no metrics to report`);
        return { type: "metrics", metrics: await snapshot.call(ctx.observer) };
      }
    }
  }

  /** The group's runner when this node leads it; otherwise a refusal naming the leader it knows. */
  private leaderOf(groupId: GroupId) {
    const runner = this.ctx.groups.runner(groupId);
    if (!runner?.isLeader) throw notLeader(`group ${groupId}`, this.hint(runner?.leader));
    return runner;
  }

  private hint(leader: NodeId | undefined): LeaderHint | undefined {
    if (!leader) return undefined;
    const n = this.ctx.metadata().nodes[leader];
    return { nodeId: leader, ...(n ? { region: n.region, clientAddress: n.clientAddress } : {}) };
  }
}
