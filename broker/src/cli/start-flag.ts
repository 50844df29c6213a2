import type { StartAt } from "../client/node.js";
import { UsageError } from "./client-command.js";

/** `--from earliest|latest|offset:N|time:ISO` as the library's start position. */
export function startFrom(spec: string): StartAt {
  if (spec === "earliest" || spec === "latest") return spec;
  if (spec.startsWith("offset:")) {
    const n = Number(spec.slice(7));
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--from ${spec}: offset must be a whole number`);
    return { offset: BigInt(n) };
  }
  if (spec.startsWith("time:")) {
    const ms = Date.parse(spec.slice(5));
    if (Number.isNaN(ms))
      throw new UsageError(`--from ${spec}: not a date (use ISO 8601, e.g. time:2026-11-24T10:00:00Z)`);
    return { time: new Date(ms) };
  }
  throw new UsageError(`--from ${spec}: use earliest, latest, offset:N or time:ISO`);
}

/** A whole-number flag, bounded; `fallback` when not given. */
export function wholeNumber(
  values: Record<string, unknown>,
  flag: string,
  fallback: number,
  min = 0,
  max = 1e9,
): number {
  const v = values[flag];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${flag} takes a whole number from ${min} to ${max}`);
  return n;
}
