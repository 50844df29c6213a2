import { consumerLost, redelivered } from "./consumer-rules.js";
import { type HistoryEvent, parseHistory } from "./events.js";
import { type FaultResume, resumeByKind, resumeQuantile, resumeTimes, unresumed } from "./resume.js";
import {
  backwards,
  divergent,
  duplicated,
  gap,
  lost,
  type Rule,
  reordered,
  type Violation,
  vanished,
} from "./rules.js";

// Runs every rule over a history and sums it up as the soak's RESULT line.

export interface Report {
  violations: Violation[];
  counts: Record<Rule, number>;
  acked: number;
  faults: FaultResume[];
  resumeP99Ms: number;
}

export const rules = {
  lost,
  duplicated,
  divergent,
  reordered,
  backwards,
  gap,
  vanished,
  "consumer-lost": consumerLost,
  redelivered,
} as const;

export function check(history: HistoryEvent[]): Report {
  // One clock, but writers may interleave: judge events in time order (stable for equal times).
  const h = history
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.t - b.e.t || a.i - b.i)
    .map((x) => x.e);
  const faults = resumeTimes(h);
  const violations = [...Object.values(rules).flatMap((rule) => rule(h)), ...unresumed(faults)];
  const counts = Object.fromEntries(
    [...Object.keys(rules), "unresumed"].map((r) => [r, violations.filter((v) => v.rule === r).length]),
  ) as Record<Rule, number>;
  return {
    violations,
    counts,
    acked: h.filter((e) => e.type === "ok").length,
    faults,
    resumeP99Ms: resumeQuantile(faults, 0.99),
  };
}

export const checkText = (text: string): Report => check(parseHistory(text));

/**
 * The soak's last line. `lost` also counts acknowledged messages lost to the durable consumer,
 * `duplicated` also redeliveries of messages whose ack had committed, `divergent` also gaps and
 * vanished reads (a reader's view that is not the log), `reordered` also readers moving backwards.
 */
export function resultLine(r: Report, seconds: number): string {
  const c = r.counts;
  const p99 = Number.isFinite(r.resumeP99Ms) ? Math.round(r.resumeP99Ms) : "never";
  return `RESULT chaos seconds=${Math.round(seconds)} faults=${r.faults.length} acked=${r.acked} lost=${c.lost + c["consumer-lost"]} duplicated=${c.duplicated + c.redelivered} divergent=${c.divergent + c.gap + c.vanished} reordered=${c.reordered + c.backwards} resume_p99_ms=${p99}`;
}

/** Every rule's count, and the first violations of each, for the log. */
export function describe(r: Report, perRule = 5): string[] {
  const lines = [
    `history: ${r.acked} acknowledged publishes, ${r.faults.length} faults; ${Object.entries(r.counts)
      .map(([k, n]) => `${k}=${n}`)
      .join(" ")}`,
  ];
  const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)}` : "never");
  for (const k of resumeByKind(r.faults))
    lines.push(
      `  resume after ${k.kind} (n=${k.n}): median ${ms(k.medianMs)} ms, p90 ${ms(k.p90Ms)} ms, max ${ms(k.maxMs)} ms`,
    );
  for (const rule of Object.keys(r.counts))
    lines.push(
      ...r.violations
        .filter((v) => v.rule === rule)
        .slice(0, perRule)
        .map((v) => `  ${v.rule}: ${v.message}`),
    );
  return lines;
}
