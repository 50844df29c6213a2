import type { HistoryEvent } from "./events.js";
import type { Violation } from "./rules.js";

// Time to resume after each fault: per producer, from the fault's start (and from its heal) until the
// first acknowledgement of an attempt that started at or after that moment (an attempt already on its
// way to a lost leader does not count: the client's view, its deadline included).

export interface FaultResume {
  fault: string;
  /** Its kind, when the history names it. */
  kind: string | undefined;
  /** It took a majority of some group: resume is due (and measured) from the heal. */
  quorumLost: boolean;
  startedAt: number;
  healedAt: number | undefined;
  /** Per producer: ms from the start until it was acknowledged again (undefined: never). */
  afterStartMs: Map<string, number | undefined>;
  /** The same from the heal. */
  afterHealMs: Map<string, number | undefined>;
}

interface Acked {
  attemptStartedAt: number;
  at: number;
}

/**
 * Per producer: its acknowledgements in time order, each with the start of its acknowledged attempt.
 * A process that only retries others' messages (`retry`) is no producer: it stops after its fault.
 */
function acksByProducer(h: HistoryEvent[]): Map<string, Acked[]> {
  const lastInvoke = new Map<string, number>();
  const out = new Map<string, Acked[]>();
  for (const e of h) {
    if (e.type === "invoke") {
      lastInvoke.set(`${e.process}/${e.id}`, e.t);
      if (!out.has(e.process) && !e.retry) out.set(e.process, []);
    } else if (e.type === "ok")
      out.get(e.process)?.push({ attemptStartedAt: lastInvoke.get(`${e.process}/${e.id}`) ?? e.t, at: e.t });
  }
  return out;
}

const firstAfter = (acks: Acked[], since: number) => {
  const a = acks.find((x) => x.attemptStartedAt >= since);
  return a ? a.at - since : undefined;
};

export function resumeTimes(h: HistoryEvent[]): FaultResume[] {
  const acks = acksByProducer(h);
  const faults: FaultResume[] = [];
  for (const e of h) {
    if (e.type !== "nemesis") continue;
    if (e.phase === "start") {
      faults.push({
        fault: e.fault,
        kind: e.kind,
        quorumLost: e.quorumLost === true,
        startedAt: e.t,
        healedAt: undefined,
        afterStartMs: new Map([...acks].map(([p, list]) => [p, firstAfter(list, e.t)])),
        afterHealMs: new Map(),
      });
      continue;
    }
    const f = faults.findLast((x) => x.fault === e.fault && x.healedAt === undefined);
    if (!f) throw new Error(`heal of ${e.fault} at ${e.t} without a start`);
    f.healedAt = e.t;
    f.afterHealMs = new Map([...acks].map(([p, list]) => [p, firstAfter(list, e.t)]));
  }
  return faults;
}

/** A producer that was never acknowledged again after a fault's start or its heal. */
export function unresumed(faults: FaultResume[]): Violation[] {
  const out: Violation[] = [];
  for (const f of faults)
    for (const [when, times] of [
      ["its start", f.quorumLost ? new Map<string, number | undefined>() : f.afterStartMs],
      ["its heal", f.afterHealMs],
    ] as const)
      for (const [producer, ms] of times)
        if (ms === undefined)
          out.push({
            rule: "unresumed",
            message: `${producer} was never acknowledged again after ${when}: ${f.fault}`,
          });
  return out;
}

/** The worst producer's time to resume after the fault's start (after its heal, for a quorum loss; Infinity: one never resumed). */
export const worstResume = (f: FaultResume): number =>
  Math.max(
    0,
    ...[...(f.quorumLost ? f.afterHealMs : f.afterStartMs).values()].map(
      (ms) => ms ?? Number.POSITIVE_INFINITY,
    ),
  );

/** The q-quantile (nearest rank) of the worst resume time per fault; 0 without faults. */
export function resumeQuantile(faults: FaultResume[], q: number): number {
  if (faults.length === 0) return 0;
  const sorted = faults.map(worstResume).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/**
 * Per fault kind: how many faults, and the median, 90th percentile and maximum of the worst
 * producer's time to resume after each (Infinity: one never resumed).
 */
export function resumeByKind(
  faults: FaultResume[],
): { kind: string; n: number; medianMs: number; p90Ms: number; maxMs: number }[] {
  const kinds = new Map<string, number[]>();
  for (const f of faults) {
    const k = f.kind ?? "(unnamed)";
    kinds.set(k, [...(kinds.get(k) ?? []), worstResume(f)]);
  }
  return [...kinds]
    .map(([kind, times]) => {
      const sorted = times.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
      return { kind, n: sorted.length, medianMs: at(0.5), p90Ms: at(0.9), maxMs: sorted.at(-1)! };
    })
    .sort((a, b) => a.kind.localeCompare(b.kind));
}
