import { type DamageKind, damageKinds } from "./disk-damage.js";

// The chaos suite's fault kinds and its seeded schedule (docs/fault-injection.md, "Scenarios").

/**
 * Fault kinds that need nothing but Node and this repository: `npm test` runs each of them once.
 * The first four are the classic ones (leader loss by kill, partition, isolation, pause).
 */
export const portableKinds = [
  "kill-leader",
  "partition-region",
  "isolate-leader",
  "pause-leader",
  "flaky-leader",
  "slow-leader",
  "pause-follower",
  "corrupt-follower",
  "membership-churn",
  "retention-retry",
] as const;
/** Fault kinds that need something of the machine (requirements.ts): only when asked for. */
export const machineKinds = ["clock-skew", "power-loss", "disk-full", "disk-eio"] as const;
/** The kinds that run every node on lossyfs (lossy-disk.ts). */
export const diskKinds: readonly FaultKind[] = ["power-loss", "disk-full", "disk-eio"];
export type FaultKind = (typeof portableKinds)[number] | (typeof machineKinds)[number];
export const allKinds: readonly FaultKind[] = [...portableKinds, ...machineKinds];

/**
 * The kinds a run injects, from a comma-separated list (GEOBROKER_CHAOS_NEMESES): empty for the
 * portable kinds (`npm test`), `all` for every kind (`npm run chaos`), or names. A kind the machine
 * cannot run (`unavailable` gives the reason) refuses the run: a run never claims a fault it skipped.
 */
export function selectKinds(
  list: string | undefined,
  unavailable: (k: FaultKind) => string | undefined,
): FaultKind[] {
  const names = (list ?? "").split(",").filter(Boolean);
  const kinds: FaultKind[] =
    names.length === 0 ? [...portableKinds] : names.includes("all") ? [...allKinds] : (names as FaultKind[]);
  const unknown = kinds.filter((n) => !allKinds.includes(n));
  if (unknown.length)
    throw new Error(
      `GEOBROKER_CHAOS_NEMESES: unknown ${unknown.join(", ")}; known: all, ${allKinds.join(", ")}`,
    );
  const refused = kinds.flatMap((k) => {
    const why = unavailable(k);
    return why ? [`${k}: ${why}`] : [];
  });
  if (refused.length)
    throw new Error(`this machine cannot run ${refused.join("; ")} (pick others with --nemesis)`);
  return kinds;
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
  /**
   * membership-churn: which fault runs during the membership change (below 0.5 a kill -9 of the
   * partition's leader, else a region cut off) and which voter takes the leadership moved.
   */
  churnWith: number;
  churnTarget: number;
}

/**
 * The fault schedule, endless: a function of the seed alone (the run takes faults from it until its
 * time is up). The first faults cover every selected kind once. Every fault draws every
 * field, whatever its kind, so one seed gives the same schedule whichever kinds a field serves.
 */
export function* schedule(
  rand: () => number,
  kinds: FaultKind[],
  o: { partitions: number; regions: string[] },
): Generator<Fault> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const firsts = [...kinds].sort(() => rand() - 0.5);
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
      churnWith: rand(),
      churnTarget: rand(),
    };
  }
}
