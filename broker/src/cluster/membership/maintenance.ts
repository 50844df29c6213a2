import type { NodeConfig } from "../../config/config.js";
import type { Logger } from "../../observability/logger.js";
import { ProposalDroppedError } from "../../raft/errors.js";
import type { GroupId, NodeId } from "../../raft/types.js";
import { lagOf, nextMembershipStep, preferredLeader } from "../groups/group-membership.js";
import type { GroupRunner } from "../groups/group-runner.js";
import {
  findPartition,
  groupsOnNode,
  type MetadataCommand,
  type MetadataResult,
  type MetadataState,
  metadataGroupId,
} from "../state/metadata-state.js";
import type { NodeIncarnation } from "./node-identity.js";
import { isStale, nextMetadataReadmission, registrationOf, registrations } from "./readmission.js";
import { planMoves, planPreferredLeaders } from "./rebalance.js";

/** What maintenance needs of the node it runs on. */
export interface MaintainedNode {
  readonly nodeId: NodeId;
  readonly config: NodeConfig;
  readonly logger: Logger;
  metadataState(): MetadataState;
  metadataGroup(): GroupRunner;
  dataGroups(): { groupId: GroupId; topic: string; partition: number; runner: GroupRunner }[];
  proposeSystem(command: MetadataCommand): Promise<MetadataResult>;
  /** This node's incarnation, registered in the metadata state by maintenance (readmission.ts). */
  readonly incarnation?: NodeIncarnation | undefined;
}

/** Replica moves the metadata leader lets run at once. */
export const maxMovesInFlight = 2;
/** A learner this close to the leader's log is promoted; a voter this close may take leadership. */
const maxLagToPromote = 64;
const maxLagToLead = 16;

/**
 * The background work of a node's leaderships, run every few ticks: each data group leader brings
 * its Raft membership in line with the placement (one step at a time) and hands leadership to the
 * topic's home region or to a less loaded node; the metadata leader plans replica moves (draining
 * nodes, balancing onto new nodes) and marks drained nodes.
 */
export class GroupMaintenance {
  private running = false;
  private registering = false;

  constructor(private readonly node: MaintainedNode) {}

  async run(tick: number): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const state = this.node.metadataState();
      this.registerIncarnation(state);
      for (const g of this.node.dataGroups()) if (g.runner.isLeader) await this.maintainDataGroup(g, state);
      if (this.node.metadataGroup().isLeader) await this.maintainMetadata(state, tick);
    } finally {
      this.running = false;
    }
  }

  private changeMembership(
    groupId: GroupId,
    runner: GroupRunner,
    step: { kind: "addLearner" | "promote" | "remove"; node: NodeId; incarnation?: string },
  ): void {
    this.node.logger.info("changing group membership", {
      group: groupId,
      step: step.kind,
      node: step.node,
      ...(step.incarnation ? { incarnation: step.incarnation } : {}),
    });
    runner.proposeConfChange(confChangeOf(step));
  }

  /**
   * Until the metadata state holds this node's current incarnation, proposes it (in the background:
   * without a metadata leader it waits, and the next round tries again).
   */
  private registerIncarnation(state: MetadataState): void {
    const mine = this.node.incarnation;
    if (!mine || this.registering) return;
    const reg = registrationOf(state.nodes[this.node.nodeId]);
    if (reg && reg.incarnation === mine.incarnation && reg.original === mine.original) return;
    this.registering = true;
    void this.node
      .proposeSystem({ type: "registerIncarnation", nodeId: this.node.nodeId, ...mine })
      .then((r) => {
        if (r.ok) this.node.logger.info("registered this node's incarnation", { ...mine });
      })
      .catch((err: Error) => this.node.logger.debug("incarnation not registered yet", { err: err.message }))
      .finally(() => {
        this.registering = false;
      });
  }

  private async maintainDataGroup(
    g: { groupId: GroupId; topic: string; runner: GroupRunner },
    state: MetadataState,
  ): Promise<void> {
    const found = findPartition(state, g.groupId);
    if (!found) return;
    const { placement } = found;
    const status = g.runner.core.status();
    const match = new Map([...status.progress].map(([id, p]) => [id, p.match]));
    match.set(this.node.nodeId, status.lastIndex);
    const active = activeMembers(status.progress);
    const conf = g.runner.core.confState();
    const regs = registrations(state.nodes);
    const step = nextMembershipStep({
      self: this.node.nodeId,
      conf,
      desired: placement.replicas,
      match,
      lastIndex: status.lastIndex,
      confIndex: status.confIndex ?? 0,
      moving: placement.moving !== undefined,
      maxLagToPromote,
      active,
      registrations: regs,
    });
    try {
      switch (step.kind) {
        case "addLearner":
        case "promote":
        case "remove":
          this.changeMembership(g.groupId, g.runner, step);
          return;
        case "transferLeadership":
          this.node.logger.info("moving leadership off a leaving replica", { group: g.groupId, to: step.to });
          g.runner.core.transferLeadership(step.to);
          g.runner.schedule();
          return;
        case "settle":
          if (placement.moving)
            await this.node.proposeSystem({ type: "settleMove", groupId: g.groupId, ...placement.moving });
          return;
        case "none":
          break;
      }
    } catch (err) {
      if (err instanceof ProposalDroppedError) return; // a change is still pending: next round
      throw err;
    }
    if (placement.moving) return;
    const nodes = state.nodes;
    const selfState = nodes[this.node.nodeId]?.state;
    // A stale voter may not campaign: leadership handed to it would only time out.
    const voters = conf.voters.filter(
      (id) => nodes[id]?.state === "voter" && !isStale(conf, id, regs.get(id)),
    );
    let to: NodeId | undefined;
    if (selfState !== "voter") {
      // Draining: any caught-up voter will do, the nearest region first.
      to = voters
        .filter(
          (id) =>
            id !== this.node.nodeId &&
            active.has(id) &&
            lagOf({ match, lastIndex: status.lastIndex }, id) <= maxLagToLead,
        )
        .sort(
          (a, b) =>
            Number(nodes[b]?.region === this.node.config.region) -
            Number(nodes[a]?.region === this.node.config.region),
        )[0];
    } else {
      to = preferredLeader({
        self: this.node.nodeId,
        replicas: placement.replicas,
        voters,
        match,
        lastIndex: status.lastIndex,
        maxLag: maxLagToLead,
        active,
      });
    }
    if (to) {
      this.node.logger.info("transferring leadership", { group: g.groupId, to });
      try {
        g.runner.core.transferLeadership(to);
        g.runner.schedule();
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    }
  }

  private async maintainMetadata(state: MetadataState, tick: number): Promise<void> {
    const runner = this.node.metadataGroup();
    // A draining node hands the metadata group on first.
    if (state.nodes[this.node.nodeId]?.state !== "voter") {
      const status = runner.core.status();
      const to = runner.core
        .confState()
        .voters.find(
          (id) =>
            id !== this.node.nodeId &&
            state.nodes[id]?.state === "voter" &&
            status.progress.get(id)?.recentActive === true &&
            status.lastIndex - (status.progress.get(id)?.match ?? 0) <= maxLagToLead,
        );
      if (to) {
        this.node.logger.info("moving metadata leadership off a draining node", { to });
        runner.core.transferLeadership(to);
        runner.schedule();
        return;
      }
    }
    const status = runner.core.status();
    const readmit = nextMetadataReadmission({
      self: this.node.nodeId,
      conf: runner.core.confState(),
      nodes: state.nodes,
      match: new Map([...status.progress].map(([id, p]) => [id, p.match])),
      lastIndex: status.lastIndex,
      confIndex: status.confIndex ?? 0,
      active: activeMembers(status.progress),
      maxLagToPromote,
    });
    if (readmit.kind !== "none") {
      try {
        this.changeMembership(metadataGroupId, runner, readmit);
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
      return;
    }
    for (const n of Object.values(state.nodes)) {
      if (n.state === "draining" && groupsOnNode(state, n.id).length === 0 && n.id !== this.node.nodeId)
        await this.node.proposeSystem({ type: "setNodeState", id: n.id, state: "drained" });
    }
    // Moves are planned less often than membership steps: each needs a round of those to show.
    if (tick % 20 !== 0) return;
    for (const change of planPreferredLeaders(state, maxMovesInFlight)) {
      this.node.logger.info("preferring a leader", { ...change });
      await this.node.proposeSystem({ type: "setPreferredLeader", ...change });
    }
    for (const move of planMoves(state, maxMovesInFlight)) {
      this.node.logger.info("moving a replica", { ...move });
      const r = await this.node.proposeSystem({
        type: "moveReplica",
        groupId: move.groupId,
        from: move.from,
        to: move.to,
      });
      if (!r.ok) this.node.logger.warn("replica move refused", { ...move, reason: r.error.message });
    }
  }
}

/** The conf change a membership step stands for, with the incarnation an addLearner admits. */
function confChangeOf(step: {
  kind: "addLearner" | "promote" | "remove";
  node: NodeId;
  incarnation?: string;
}) {
  return {
    type: step.kind,
    nodeId: step.node,
    ...(step.kind === "addLearner" && step.incarnation !== undefined
      ? { incarnation: step.incarnation }
      : {}),
  };
}

export function activeMembers(progress: ReadonlyMap<NodeId, { recentActive: boolean }>): Set<NodeId> {
  return new Set([...progress].filter(([, p]) => p.recentActive).map(([id]) => id));
}
