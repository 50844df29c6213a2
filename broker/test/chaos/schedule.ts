import { type DamageKind, damageKinds } from "./disk-damage.js";

// The chaos suite's fault kinds and its seeded schedule (docs/fault-injection.md, "Scenarios").

/** The faults every run starts with (in a seeded order), then the extra ones, picked at random too. */
export const requiredKinds = ["kill-leader", "partition-region", "isolate-leader", "pause-leader"] as const;
export const extraKinds = [
  "flaky-leader",
  "slow-leader",
  "pause-follower",
  "clock-skew",
  "corrupt-follower",
] as const;
export type FaultKind = (typeof requiredKinds)[number] | (typeof extraKinds)[number];
export const allKinds: readonly FaultKind[] = [...requiredKinds, ...extraKinds];

/** The kinds a run injects: a comma-separated list (GEOBROKER_CHAOS_NEMESES), or all when empty. */
export function selectKinds(list: string | undefined): FaultKind[] {
  const names = (list ?? "").split(",").filter(Boolean);
  if (names.length === 0) return [...allKinds];
  const unknown = names.filter((n) => !allKinds.includes(n as FaultKind));
  if (unknown.length)
    throw new Error(`GEOBROKER_CHAOS_NEMESES: unknown ${unknown.join(", ")}; known: ${allKinds.join(", ")}`);
  return names as FaultKind[];
}

export interface Fault {
  kind: FaultKind;
  /** Whose leader is the target (every kind but partition-region). */
  partition: number;
  /** The region cut off (partition-region). */
  region: string;
  /** How long the fault lasts before the restart or heal. */
  holdMs: number;
  /** One-way delay on the slow leader's links (slow-leader). */
  delayMs: number;
  /** How long a paused node stays stopped (pause-leader, pause-follower): 1-10 s. */
  pauseMs: number;
  /** Which follower of the partition is paused (pause-follower), as a fraction of the followers. */
  follower: number;
  /** The skewed node's clock offset (clock-skew): ±5-100 s. */
  skewMs: number;
  /** What is done to the follower's RocksDB files (corrupt-follower), and where in the file. */
  damage: DamageKind;
  damageAt: number;
  /** Quiet time after the heal before the next fault. */
  settleMs: number;
}

/**
 * The fault schedule, endless: a function of the seed alone (the run takes faults from it until its
 * time is up). The first faults cover every selected required kind once. Every fault draws every
 * field, whatever its kind, so one seed gives the same schedule whichever kinds a field serves.
 */
export function* schedule(
  rand: () => number,
  kinds: FaultKind[],
  o: { partitions: number; regions: string[] },
): Generator<Fault> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const firsts = requiredKinds.filter((k) => kinds.includes(k)).sort(() => rand() - 0.5);
  for (;;) {
    yield {
      kind: firsts.shift() ?? pick(kinds),
      partition: between(0, o.partitions - 1),
      region: pick(o.regions),
      holdMs: between(1500, 4000),
      delayMs: between(50, 200),
      settleMs: between(1000, 2500),
      pauseMs: between(1000, 10_000),
      follower: rand(),
      skewMs: (rand() < 0.5 ? -1 : 1) * between(5, 100) * 1000,
      damage: pick([...damageKinds]),
      damageAt: rand(),
    };
  }
}
