import type { NodeId } from "./types.js";

// Majority quorums (etcd's quorum/majority.go). A configuration here is a single set of voters (no
// joint consensus: members change one at a time, see confchange.ts), so one majority decides
// elections, commits, check-quorum and reads alike.

/** How many of `size` voters make a majority. */
export function majority(size: number): number {
  return Math.floor(size / 2) + 1;
}

const descending = (a: number, b: number) => b - a;

/**
 * The highest index a majority of `voterCount` voters holds, given the voters' match indexes. A voter
 * whose progress is not known yet counts as holding nothing. `matches` is padded and sorted in place:
 * the caller reuses one array, as this runs on every acknowledgement.
 */
export function committedIndex(matches: number[], voterCount: number): number {
  while (matches.length < voterCount) matches.push(0);
  matches.sort(descending);
  return matches[majority(voterCount) - 1] ?? 0;
}

/** Whether a majority of `voters` satisfies `yes` (for check-quorum: heard from recently). */
export function isMajority(voters: readonly NodeId[], yes: (id: NodeId) => boolean): boolean {
  let count = 0;
  for (const id of voters) if (yes(id)) count++;
  return count >= majority(voters.length);
}

export type VoteResult = "won" | "lost" | "pending";

/** A campaign's outcome so far; answers from nodes that are not voters do not count. */
export function voteResult(
  voters: readonly NodeId[],
  votes: readonly { id: NodeId; granted: boolean }[],
): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of votes) {
    if (!voters.includes(v.id)) continue;
    if (v.granted) granted++;
    else rejected++;
  }
  const needed = majority(voters.length);
  if (granted >= needed) return "won";
  return rejected >= needed ? "lost" : "pending";
}
