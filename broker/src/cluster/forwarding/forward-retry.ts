import type { CallContext } from "../../engine/engine.js";
import { nowMs } from "../../util/clock.js";
import { leaderWaitMs, type NodeContext } from "../node-context.js";
import type { NodeInfo } from "../state/metadata-state.js";
import { neverReachedTarget } from "./forwarder.js";

/**
 * Sends a forwarded call, and when the target could not even be connected to (a leader that just
 * died), waits for the group to pick another leader and sends again, within leaderWaitMs. Only
 * calls that never reached a node are retried, so a message is never forwarded twice.
 */
export async function forwardUntilReached<T>(
  ctx: Pick<NodeContext, "changes" | "logger" | "clock">,
  pickTarget: () => NodeInfo,
  currentLeader: () => string | undefined,
  call: CallContext,
  send: (target: NodeInfo) => Promise<T>,
): Promise<T> {
  const deadline = nowMs(ctx.clock) + leaderWaitMs;
  for (;;) {
    const target = pickTarget();
    try {
      return await send(target);
    } catch (err) {
      const left = deadline - nowMs(ctx.clock);
      if (!neverReachedTarget(err) || left <= 0 || call.signal.aborted) throw err;
      ctx.logger.debug("forward target unreachable; waiting for another leader", { target: target.id });
      // Wake when another node leads; without one, try again shortly (the node may be restarting).
      // "No leader" is not a change: waking on it resent to the same dead node in a loop of
      // microtasks that starved every timer of the process (Raft ticks too) until the deadline.
      await ctx.changes
        .until(
          () => {
            const now = currentLeader();
            return (now !== undefined && now !== "" && now !== target.id) || undefined;
          },
          Math.min(left, 250),
          call.signal,
          "a new leader",
        )
        .catch(() => undefined);
    }
  }
}

/** The target's nodes ordered nearest first: this node's region, then the others in placement order. */
export function nearestFirst(nodes: Record<string, NodeInfo>, ids: string[], region: string): NodeInfo[] {
  return ids
    .map((id) => nodes[id])
    .filter((n): n is NodeInfo => n !== undefined)
    .sort((a, b) => Number(b.region === region) - Number(a.region === region));
}
