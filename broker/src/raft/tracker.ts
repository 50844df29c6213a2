import { Progress } from "./progress.js";
import { committedIndex, isMajority, majority, type VoteResult, voteResult } from "./quorum.js";
import type { ConfState, NodeId } from "./types.js";

/**
 * Who the group's members are and, while this node leads, how far each has got (etcd's
 * tracker.ProgressTracker): the configuration (voters, learners, the incarnations it admitted), one
 * Progress per member on the leader, and the votes of the current campaign. The configuration is
 * replaced by confchange.ts and membership.ts; progress is started by leader.ts, follows membership
 * changes, and is dropped with the votes by every change of term or role in raft.ts.
 */
export class ProgressTracker {
  // A group has a handful of members: plain arrays beat maps and sets at that size.
  private voterIds: readonly NodeId[] = [];
  private learnerIds: readonly NodeId[] = [];
  private admittedIncarnations: Readonly<Record<NodeId, string>> = {};
  /** The leader's progress per member (empty on other roles). */
  private prs: Progress[] = [];
  /** Votes received in the current (pre-)campaign. */
  private votes: { id: NodeId; granted: boolean }[] = [];
  private readonly matchScratch: number[] = [];

  constructor(private readonly maxInflight: number) {}

  // ---- configuration ----

  get voters(): readonly NodeId[] {
    return this.voterIds;
  }

  get learners(): readonly NodeId[] {
    return this.learnerIds;
  }

  /** The incarnation each member was admitted under, where a change named one (incarnation.ts). */
  get incarnations(): Readonly<Record<NodeId, string>> {
    return this.admittedIncarnations;
  }

  isVoter(id: NodeId): boolean {
    return this.voterIds.includes(id);
  }

  isLearner(id: NodeId): boolean {
    return this.learnerIds.includes(id);
  }

  /** Replaces the configuration (the order of ids is kept: it is the order messages go out in). */
  setConfig(
    voters: readonly NodeId[],
    learners: readonly NodeId[],
    incarnations: Record<NodeId, string>,
  ): void {
    this.voterIds = voters;
    this.learnerIds = learners;
    this.admittedIncarnations = incarnations;
  }

  setConfState(cs: ConfState): void {
    this.setConfig([...cs.voters], [...cs.learners], { ...cs.incarnations });
  }

  confState(): ConfState {
    const cs: ConfState = {
      voters: [...this.voterIds].sort(),
      learners: [...this.learnerIds].sort(),
      votersOutgoing: [],
    };
    if (Object.keys(this.admittedIncarnations).length > 0) cs.incarnations = { ...this.admittedIncarnations };
    return cs;
  }

  quorum(): number {
    return majority(this.voterIds.length);
  }

  // ---- progress (leader only) ----

  get progresses(): readonly Progress[] {
    return this.prs;
  }

  progress(id: NodeId): Progress | undefined {
    for (const pr of this.prs) if (pr.id === id) return pr;
    return undefined;
  }

  /**
   * A new leader's view: every member is probed from `next`, except the leader itself, which holds
   * `selfMatch` (what it has made durable) and replicates to itself.
   */
  startProgress(next: number, self: NodeId, selfMatch: number): void {
    this.prs = [];
    for (const id of [...this.voterIds, ...this.learnerIds]) {
      const pr = new Progress(id, next, this.maxInflight, this.learnerIds.includes(id));
      if (id === self) {
        pr.maybeUpdate(selfMatch);
        pr.becomeReplicate();
      }
      this.prs.push(pr);
    }
  }

  addProgress(id: NodeId, next: number, learner: boolean): void {
    this.prs.push(new Progress(id, next, this.maxInflight, learner));
  }

  removeProgress(id: NodeId): void {
    this.prs = this.prs.filter((pr) => pr.id !== id);
  }

  /** The highest index a quorum of voters holds. */
  committed(): number {
    const matches = this.matchScratch;
    matches.length = 0;
    for (const pr of this.prs) if (!pr.isLearner) matches.push(pr.match);
    return committedIndex(matches, this.voterIds.length);
  }

  /** Check-quorum: whether a quorum of voters (the leader among them) was heard from in this window. */
  quorumActive(self: NodeId): boolean {
    return isMajority(this.voterIds, (id) => id === self || this.progress(id)?.recentActive === true);
  }

  /** Ends a check-quorum window: every follower must be heard from again in the next one. */
  closeActivityWindow(self: NodeId): void {
    for (const pr of this.prs) {
      if (pr.id === self) continue;
      pr.activeLastWindow = pr.recentActive;
      pr.recentActive = false;
    }
  }

  // ---- votes ----

  /** A voter's first answer counts (a duplicated response changes nothing). */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.some((v) => v.id === id)) this.votes.push({ id, granted });
  }

  voteResult(): VoteResult {
    return voteResult(this.voterIds, this.votes);
  }

  resetVotes(): void {
    this.votes = [];
  }

  /** What a change of term or role drops: the leader's progress and the campaign's votes. */
  reset(): void {
    this.votes = [];
    this.prs = [];
  }
}
