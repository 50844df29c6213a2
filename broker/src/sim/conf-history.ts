import type { ConfState, GroupId, NodeId } from "../raft/types.js";

/**
 * What the simulation's membership faults achieved, from the configurations the groups' leaders
 * hold (not from what was proposed): changes, members added again after a removal, and members
 * re-admitted under a new incarnation (after losing their disk).
 */
export class ConfHistory {
  changes = 0;
  readded = 0;
  readmitted = 0;
  private readonly last = new Map<GroupId, { members: Set<NodeId>; incarnations: Record<NodeId, string> }>();
  private readonly removed = new Map<GroupId, Set<NodeId>>();
  private readonly admittedAs = new Map<string, string | undefined>();

  /** Whether a node runs as its original incarnation now (undefined: not known, e.g. its disk is gone). */
  constructor(private readonly original: (id: NodeId) => boolean | undefined) {}

  /** A leader's configuration of a group, seen after a step. */
  observe(groupId: GroupId, conf: ConfState): void {
    const members = new Set([...conf.voters, ...conf.learners]);
    const incarnations = conf.incarnations ?? {};
    const before = this.last.get(groupId);
    if (before && sameConf(before, members, incarnations)) return;
    if (before) this.changes++;
    const removed = this.removed.get(groupId) ?? new Set<NodeId>();
    this.removed.set(groupId, removed);
    for (const id of before?.members ?? []) if (!members.has(id)) removed.add(id);
    for (const id of members) {
      const key = `${groupId}/${id}`;
      const now = incarnations[id];
      // Back after a removal; re-admitted when under a new incarnation (an original one records none,
      // and is recorded under its own when it is added again after a move).
      if (removed.delete(id)) {
        this.readded++;
        const before = this.admittedAs.get(key);
        if (now !== before && (before !== undefined || this.original(id) === false)) this.readmitted++;
      }
      this.admittedAs.set(key, now);
    }
    this.last.set(groupId, { members, incarnations: { ...incarnations } });
  }
}

function sameConf(
  before: { members: Set<NodeId>; incarnations: Record<NodeId, string> },
  members: Set<NodeId>,
  incarnations: Record<NodeId, string>,
): boolean {
  if (before.members.size !== members.size) return false;
  for (const id of members)
    if (!before.members.has(id) || before.incarnations[id] !== incarnations[id]) return false;
  return true;
}
