import type { GroupRunner } from "../groups/group-runner.js";
import type { NodeContext } from "../node-context.js";

/** How far behind the leader's last index a voter may be and still take over at once. */
const caughtUpEntries = 16;

/**
 * Hands every leadership this node holds to another caught-up voter (same region first) and waits
 * until it holds none, up to timeoutMs: before a planned restart.
 */
export async function drainLeadership(
  ctx: NodeContext,
  timeoutMs: number,
): Promise<{ done: boolean; detail: string }> {
  const nodes = ctx.metadata().nodes;
  const leading = (): GroupRunner[] => [...ctx.groups.runners().values()].filter((r) => r.isLeader);
  for (const runner of leading()) {
    const s = runner.core.status();
    const target = runner.core
      .confState()
      .voters.filter(
        (id) =>
          id !== ctx.self &&
          s.progress.get(id)?.recentActive === true &&
          s.lastIndex - (s.progress.get(id)?.match ?? 0) <= caughtUpEntries,
      )
      .sort(
        (a, b) =>
          Number(nodes[b]?.region === ctx.region) - Number(nodes[a]?.region === ctx.region) ||
          a.localeCompare(b),
      )[0];
    if (!target) continue;
    try {
      runner.core.transferLeadership(target);
      runner.schedule();
    } catch {
      // not leader any more, or a transfer under way: the wait below tells
    }
  }
  try {
    await ctx.changes.until(
      () => leading().length === 0 || undefined,
      timeoutMs,
      undefined,
      "leaderships to move",
    );
    return { done: true, detail: "this node leads no group" };
  } catch {
    return {
      done: false,
      detail: `still leading group(s) ${leading()
        .map((r) => r.groupId)
        .join(", ")}`,
    };
  }
}
