import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { forwardUntilReached, type OnLeaderMoved } from "../../src/cluster/forwarding/forward-retry.js";
import { ChangeSignal } from "../../src/cluster/groups/waiters.js";
import type { NodeInfo } from "../../src/cluster/state/metadata-state.js";
import { systemClock } from "../../src/util/clock.js";

// Issue 20's chaos soaks: after `pause ap-1 (leads p1)` the group elected a new leader in 947 ms,
// but a follower that had forwarded a publish to ap-1 held it until the client's 1 s deadline (the
// paused process's socket accepts and never answers), four attempts in a row: 4.2 s to resume.
// Once the group elects another leader, a forward with a message id goes to it too (stored once),
// and one without is answered at once as of unknown outcome.

const node = (id: string): NodeInfo =>
  ({ id, region: "eu", zone: "", peerAddress: `${id}:1`, clientAddress: `${id}:2` }) as NodeInfo;
const nodes: Record<string, NodeInfo> = { old: node("old"), next: node("next") };

/**
 * A forward to "old" that never answers (or answers `oldAnswersAfterMs` after the start, as a
 * planned transfer's old leader does once the entry commits); the group elects "next" 50 ms in.
 */
async function forwardWhileLeaderMoves(onLeaderMoved: OnLeaderMoved, oldAnswersAfterMs?: number) {
  const changes = new ChangeSignal(systemClock);
  const ctx = { changes, clock: systemClock, logger: { debug() {} } as never };
  let leader = "old";
  const sent: string[] = [];
  const moved = setTimeout(() => {
    leader = "next";
    changes.poke();
  }, 50);
  const started = performance.now();
  // The caller's deadline (a timer that keeps the test's event loop alive, as a client's would).
  const deadline = new AbortController();
  const expire = setTimeout(() => deadline.abort(), 1500);
  const call = { signal: deadline.signal, hops: 0 };
  const outcome = await forwardUntilReached(
    ctx,
    () => nodes[leader]!,
    () => leader,
    call,
    (target) => {
      sent.push(target.id);
      if (target.id !== "old") return Promise.resolve(`stored by ${target.id}`);
      if (oldAnswersAfterMs !== undefined)
        return new Promise<string>((resolve) =>
          setTimeout(() => resolve("stored by old"), oldAnswersAfterMs),
        );
      // As a real call does, it ends only when the caller goes away.
      return new Promise<string>((_, reject) =>
        call.signal.addEventListener("abort", () =>
          reject(new ConnectError("caller gone", Code.DeadlineExceeded)),
        ),
      );
    },
    onLeaderMoved,
  ).then(
    (value) => ({ value }),
    (err: unknown) => ({ err: ConnectError.from(err) }),
  );
  clearTimeout(moved);
  clearTimeout(expire);
  return { outcome, sent, ms: performance.now() - started };
}

test("a forward with a message id goes to the new leader as soon as the group elects one", async () => {
  const { outcome, sent, ms } = await forwardWhileLeaderMoves("resend");
  assert.deepEqual(outcome, { value: "stored by next" });
  assert.deepEqual(sent, ["old", "next"]);
  assert.ok(ms < 1000, `answered after ${ms.toFixed(0)} ms, not at the caller's deadline`);
});

test("a forward without a message id is answered UNAVAILABLE (outcome unknown) once the leader moved", async () => {
  const { outcome, sent, ms } = await forwardWhileLeaderMoves("fail");
  assert.ok("err" in outcome, "refused");
  assert.equal(outcome.err.code, Code.Unavailable);
  assert.match(
    outcome.err.rawMessage,
    /moved from old to next .* outcome is unknown: resend with a message_id/,
  );
  assert.deepEqual(sent, ["old"], "never sent twice");
  assert.ok(ms < 1000, `answered after ${ms.toFixed(0)} ms`);
});

test("'wait' keeps waiting for the old target (the caller's deadline ends it)", async () => {
  const { outcome, sent, ms } = await forwardWhileLeaderMoves("wait");
  assert.ok("err" in outcome);
  assert.deepEqual(sent, ["old"]);
  assert.ok(ms >= 1400, `waited ${ms.toFixed(0)} ms`);
});

for (const onLeaderMoved of ["resend", "fail"] as const) {
  test(`${onLeaderMoved}: an old leader that answers just after the move (a planned transfer) is believed`, async () => {
    const { outcome, sent } = await forwardWhileLeaderMoves(onLeaderMoved, 150);
    assert.deepEqual(outcome, { value: "stored by old" });
    assert.deepEqual(sent, ["old"]);
  });
}
