import { nextMembershipStep } from "../../src/cluster/groups/group-membership.js";

type StepInput = Parameters<typeof nextMembershipStep>[0];

/**
 * The membership decision for a three-voter group a, b, c led by a, everyone caught up at index 100
 * and heard from, with `over` changing what a case is about (group-membership.ts nextMembershipStep).
 */
export function membershipStep(over: Partial<StepInput>): ReturnType<typeof nextMembershipStep> {
  return nextMembershipStep({
    self: "a",
    conf: { voters: ["a", "b", "c"], learners: [], votersOutgoing: [] },
    desired: ["a", "b", "c"],
    match: new Map([
      ["a", 100],
      ["b", 100],
      ["c", 100],
    ]),
    lastIndex: 100,
    confIndex: 0,
    moving: false,
    maxLagToPromote: 20,
    active: new Set(["a", "b", "c"]),
    ...over,
  });
}
