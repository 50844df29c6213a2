import type { CallContext } from "../../engine/engine.js";
import { unavailable } from "../../engine/errors.js";
import { nowMs, sleep } from "../../util/clock.js";
import { leaderWaitMs, type NodeContext } from "../node-context.js";
import type { NodeInfo } from "../state/metadata-state.js";
import { neverReachedTarget } from "./forwarder.js";

/**
 * What to do when the group elects another leader while a call forwarded to the old one is still
 * unanswered (the old leader is paused, cut off or deposed: its TCP connection is accepted and never
 * answered, and its proposal may or may not commit under the new leader):
 * - "resend": send it to the new leader too; for a publish with a message id, which the partition
 *   stores once whichever copy commits (its dedup window), so the first answer wins;
 * - "fail": answer UNAVAILABLE at once, the outcome unknown (not retry-safe), instead of holding the
 *   caller until its deadline: the client decides, as after a deadline, only sooner;
 * - "wait": keep waiting for the old target's answer (calls that must not be sent twice and whose
 *   caller can wait).
 */
export type OnLeaderMoved = "resend" | "fail" | "wait";

/** How long the old leader may still answer after this node learned of the new one. */
export const leaderMovedGraceMs = 200;

/**
 * Sends a forwarded call, and when the target could not even be connected to (a leader that just
 * died), waits for the group to pick another leader and sends again, within leaderWaitMs. Only
 * calls that never reached a node are retried, so a message is never forwarded twice, unless
 * `onLeaderMoved` is "resend" (a call that is stored once however often it arrives).
 */
export async function forwardUntilReached<T>(
  ctx: Pick<NodeContext, "changes" | "logger" | "clock">,
  pickTarget: () => NodeInfo,
  currentLeader: () => string | undefined,
  call: CallContext,
  send: (target: NodeInfo) => Promise<T>,
  onLeaderMoved: OnLeaderMoved = "wait",
): Promise<T> {
  const deadline = nowMs(ctx.clock) + leaderWaitMs;
  for (;;) {
    const target = pickTarget();
    try {
      const answer = await answerOrLeaderMoved(ctx, target, currentLeader, call, send, onLeaderMoved);
      if (answer.done) return answer.value;
      // A leadership that keeps moving ends the resends at the same bound as the waits below.
      if (onLeaderMoved === "fail" || nowMs(ctx.clock) > deadline)
        throw unavailable(
          `the partition's leader moved from ${target.id} to ${answer.movedTo} while the call was forwarded ` +
            `to ${target.id}; its outcome is unknown: resend with a message_id to have it stored once`,
        );
      ctx.logger.debug("forward target lost its leadership; resending to the new leader", {
        target: target.id,
        leader: answer.movedTo,
      });
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

/**
 * The target's answer, or the id of another leader the group elected while the call was unanswered
 * (only watched when `onLeaderMoved` is not "wait" and the target is the leader this node knows).
 */
async function answerOrLeaderMoved<T>(
  ctx: Pick<NodeContext, "changes" | "clock">,
  target: NodeInfo,
  currentLeader: () => string | undefined,
  call: CallContext,
  send: (target: NodeInfo) => Promise<T>,
  onLeaderMoved: OnLeaderMoved,
): Promise<{ done: true; value: T } | { done: false; movedTo: string }> {
  const answer = send(target).then((value) => ({ done: true as const, value }));
  if (onLeaderMoved === "wait" || currentLeader() !== target.id) return answer;
  const settled = new AbortController();
  const moved = ctx.changes
    .until(
      () => {
        const now = currentLeader();
        return now !== undefined && now !== "" && now !== target.id ? now : undefined;
      },
      leaderWaitMs,
      AbortSignal.any([call.signal, settled.signal]),
      "another leader",
    )
    .then(
      // A planned transfer's old leader answers a moment after the new one leads (the entry commits
      // under it): give it that moment, so only a target that stays silent is given up on.
      async (movedTo) =>
        Promise.race([
          answer,
          sleep(ctx.clock, leaderMovedGraceMs, settled.signal).then(() => ({
            done: false as const,
            movedTo,
          })),
        ]),
      // Timed out or settled: only the target's answer counts.
      () => answer,
    );
  // The abandoned copy's answer (or failure) is not wanted once the leader moved.
  answer.catch(() => undefined);
  try {
    return await Promise.race([answer, moved]);
  } finally {
    settled.abort();
  }
}

/** The target's nodes ordered nearest first: this node's region, then the others in placement order. */
export function nearestFirst(nodes: Record<string, NodeInfo>, ids: string[], region: string): NodeInfo[] {
  return ids
    .map((id) => nodes[id])
    .filter((n): n is NodeInfo => n !== undefined)
    .sort((a, b) => Number(b.region === region) - Number(a.region === region));
}
