import { metadataGroupId } from "../cluster/state/metadata-state.js";
import { admitted } from "../raft/incarnation.js";
import type { GroupId } from "../raft/types.js";
import type { StackNode } from "./stack-node.js";

/** What the membership faults need of the simulation. */
export interface MembershipWorld {
  nodes(): StackNode[];
  /** The initial members' ids (the others are spares, added as an operator adds a node). */
  initial: readonly string[];
  groupIds(): GroupId[];
  pick<T>(items: T[]): T | undefined;
  trace(line: string): void;
}

/**
 * Membership as the cluster changes it, through the metadata group: the operator adds the spare
 * nodes (cluster-admin.ts AddNode and PromoteNode: the node, then a metadata learner under the
 * incarnation the node reports, then a voter), and moves replicas (MoveReplica, to a node that held
 * the replica before as often as not). Each group's leader carries the placement out in Raft
 * (maintenance.ts: learner, promote, leadership off a leaving replica, remove), re-admits a member
 * that lost its disk, and balances replicas onto the new nodes on its own.
 */
export class MembershipFaults {
  movesAccepted = 0;

  constructor(private readonly w: MembershipWorld) {}

  private metadataLeader(): StackNode | undefined {
    return this.w.nodes().find((n) => n.process?.meta.runner.isLeader);
  }

  /** One round of the operator's AddNode / PromoteNode for every spare not yet a voter. */
  addSpares(): void {
    const leader = this.metadataLeader();
    if (!leader) return;
    const meta = leader.process!.meta;
    for (const spare of this.w.nodes().filter((n) => !this.w.initial.includes(n.id))) {
      const info = meta.state.nodes[spare.id];
      if (!info) {
        this.w.trace(`operator: add node ${spare.id}`);
        void meta.propose({ type: "addNode", node: spare.address }).catch(() => undefined);
        continue;
      }
      const conf = meta.runner.core.confState();
      const member = conf.voters.includes(spare.id) || conf.learners.includes(spare.id);
      // Not registered yet (it can register only once in the group): under the incarnation it reports.
      if (!member && info.incarnation === undefined && spare.process) {
        try {
          meta.runner.proposeConfChange({
            type: "addLearner",
            nodeId: spare.id,
            incarnation: spare.process.identity.incarnation,
          });
          this.w.trace(`operator: ${spare.id} joins the metadata group as a learner`);
        } catch {
          // a change still pending: next round
        }
      }
      if (info.state === "learner") {
        this.w.trace(`operator: promote node ${spare.id}`);
        void meta.propose({ type: "setNodeState", id: spare.id, state: "voter" }).catch(() => undefined);
      }
    }
  }

  /** Moves one replica of a random group to a node that does not hold it (MoveReplica). */
  moveReplica(): void {
    const leader = this.metadataLeader();
    if (!leader) return;
    const meta = leader.process!.meta;
    const state = meta.state;
    const placements = Object.values(state.topics).flatMap((t) => t.partitions);
    const p = this.w.pick(placements.filter((x) => !x.moving));
    if (!p) return;
    const from = this.w.pick(p.replicas);
    const to = this.w.pick(
      Object.values(state.nodes)
        .filter((n) => n.state === "voter" && !p.replicas.includes(n.id))
        .map((n) => n.id),
    );
    if (!from || !to) return;
    void meta
      .propose({ type: "moveReplica", groupId: p.groupId, from, to })
      .then((r) => {
        if (!r.ok) return;
        this.movesAccepted++;
        this.w.trace(`operator: group ${p.groupId} moves its replica on ${from} to ${to}`);
      })
      .catch(() => undefined);
  }

  /**
   * Whether a node may lose its disk now without the cluster losing a quorum's state: every node
   * runs, and in every group every voter is admitted under the incarnation it runs now, none is a
   * learner and no replica is moving, and every group has three voters or more. (Two amnesiac
   * voters of one group of three, or one of two, are a lost majority, which no protocol survives.)
   */
  mayWipe(): boolean {
    const nodes = this.w.nodes();
    if (nodes.some((n) => !n.running)) return false;
    for (const groupId of [metadataGroupId, ...this.w.groupIds()]) {
      const leader = nodes.find((n) => n.runner(groupId)?.isLeader);
      if (!leader) return false;
      const conf = leader.runner(groupId)!.core.confState();
      // Three voters at least: a group shrunk to two while re-admitting a member (removed, not yet
      // back) has no quorum once either loses its disk (seed 900309 reported exactly that).
      if (conf.voters.length < 3 || conf.learners.length > 0 || conf.votersOutgoing.length > 0) return false;
      for (const id of conf.voters) {
        const identity = nodes.find((n) => n.id === id)?.process?.identity;
        if (!identity || !admitted(conf.incarnations?.[id], identity)) return false;
      }
    }
    const state = this.metadataLeader()?.process?.meta.state;
    return (
      state !== undefined && Object.values(state.topics).every((t) => t.partitions.every((p) => !p.moving))
    );
  }
}
