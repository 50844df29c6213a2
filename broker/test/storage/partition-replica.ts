import { LogFeed } from "../../src/cluster/groups/log-feed.js";
import type { ProposalTracker } from "../../src/cluster/groups/proposal-tracker.js";
import type { BatchedResult } from "../../src/cluster/groups/publish-batcher.js";
import {
  encodePublishBatch,
  encodeRetentionEntry,
  type PublishBatch,
} from "../../src/cluster/state/commands.js";
import {
  type PartitionSettingsView,
  PartitionStateMachine,
} from "../../src/cluster/state/partition-state-machine.js";
import type { RetentionEntry } from "../../src/cluster/state/retention.js";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { type Entry, EntryType } from "../../src/raft/types.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import type { Db } from "../../src/storage/db.js";
import { groupOf, Prefix } from "../../src/storage/keys.js";
import { PartitionStore } from "../../src/storage/partition-store.js";

// One replica of a data group over a CrashDb, and the crash-point loop the storage and cluster
// regression tests share.

export const group = 7;
export const self = "n1";
export const defaultSettings: PartitionSettingsView = { dedupWindowMs: 120_000, dedupMaxIds: 100_000 };

export const publishEntry = (
  index: number,
  timestampMicros: number,
  ids: string[],
  extra: Partial<PublishBatch> = {},
): Entry => ({
  index,
  term: 1,
  type: EntryType.Normal,
  data: encodePublishBatch({
    proposer: self,
    sequence: index,
    timestampMicros,
    messages: ids.map((id) => ({
      key: new Uint8Array(),
      body: new TextEncoder().encode(`body of ${id} at ${index}`),
      headers: {},
      messageId: id,
    })),
    ...extra,
  }),
});

export const retentionEntry = (index: number, entry: RetentionEntry): Entry => ({
  index,
  term: 1,
  type: EntryType.Normal,
  data: encodeRetentionEntry(entry),
});

export const maxMessages = (n: number, nowMicros = 0): RetentionEntry => ({
  nowMicros,
  policy: { maxAgeMs: 0, maxBytes: 0, maxMessages: n, keepUnacknowledged: false },
});

export class Replica {
  private constructor(
    /** Outcomes of the publishes this replica proposed, by sequence (publishEntry uses the entry index). */
    readonly results: Map<number, BatchedResult>,
    readonly db: Db,
    readonly store: PartitionStore,
    readonly sm: PartitionStateMachine,
  ) {}

  /** `wrap` stands between the store and the disk (a test holding or failing writes). */
  static async open(
    disk: CrashDb,
    settings: PartitionSettingsView = defaultSettings,
    wrap: (db: Db) => Db = (db) => db,
  ): Promise<Replica> {
    const db = wrap(disk.open());
    const store = await PartitionStore.open(db);
    const results = new Map<number, BatchedResult>();
    // Only `proposer` and resolve() are used at apply; recording results lets tests compare what
    // clients were told (`self` stands for this replica's proposing process).
    const tracker = { proposer: self, resolve: (s: number, r: BatchedResult) => results.set(s, r) };
    const sm = new PartitionStateMachine(
      group,
      self,
      store,
      tracker as unknown as ProposalTracker<BatchedResult>,
      new LogFeed(store.nextOffset(group)),
      () => undefined,
      settings,
    );
    return new Replica(results, db, store, sm);
  }

  apply(entries: Entry[]): Promise<void> {
    return this.sm.apply(entries);
  }

  /** What a client or a peer can observe of the partition. */
  async state(): Promise<object> {
    const s = this.store;
    const messages = await s.read(group, 0, 1_000_000, Number.MAX_SAFE_INTEGER);
    return {
      first: s.firstOffset(group),
      next: s.nextOffset(group),
      applied: s.appliedIndex(group),
      bytes: s.retainedBytes(group),
      lastTs: s.lastTimestamp(group),
      messages: messages.map((m) => [m.offset, m.messageId, new TextDecoder().decode(m.body)]),
    };
  }
}

/** Every row of the group's partition state (any prefix but the Raft log's), hex, for exact comparison. */
export function groupRows(disk: CrashDb): string[] {
  const raft = new Set<number>([Prefix.Log, Prefix.HardState, Prefix.Snapshot, Prefix.Metadata]);
  return disk
    .visibleRows({ gte: Buffer.from([0]), lt: Buffer.from([0xff]) })
    .filter(([k]) => k.length >= 9 && !raft.has(k[0]!) && groupOf(k) === group)
    .map(([k, v]) => `${k.toString("hex")}=${v.toString("hex")}`);
}

/** A crash that keeps every completed write: the process died between two awaits. */
const keepAll = () => 0.999_999;

export interface CrashPoint {
  /** The operation (1-based) at which the process died. */
  at: number;
  /** How much of the unsynced writes the crash kept. */
  mode: "keep-all" | `seed ${number}`;
  disk: CrashDb;
  /** False when the write path finished before reaching operation `at`. */
  crashed: boolean;
}

/**
 * Runs `run` on a fresh disk prepared by `setup` (made durable, as the Raft log's sync would),
 * killing the process at its 1st, 2nd, ... operation until one run finishes without reaching the
 * crash point; after each crash `check` inspects what survived. Each point is tried keeping every
 * completed write, and keeping only a seeded prefix of them.
 */
export async function forEveryCrashPoint(
  setup: (disk: CrashDb) => Promise<() => Promise<unknown>>,
  check: (point: CrashPoint) => Promise<void>,
): Promise<number> {
  for (let at = 1; ; at++) {
    let finished = false;
    for (const mode of ["keep-all", `seed ${at}`] as const) {
      let armed = false;
      let ops = 0;
      let died: () => void = () => undefined;
      const dead = new Promise<"crashed">((resolve) => {
        died = () => resolve("crashed");
      });
      const random = mode === "keep-all" ? keepAll : seededRandom(at);
      const disk: CrashDb = new CrashDb({
        schedule: (complete) => {
          if (armed && ++ops === at) {
            armed = false;
            disk.crash(random);
            died();
            return;
          }
          setImmediate(complete);
        },
      });
      const run = await setup(disk);
      await disk.open().batch([], true);
      armed = true;
      const outcome = await Promise.race([run().then(() => "done" as const), dead]);
      if (outcome === "done") {
        armed = false;
        finished = true;
        disk.crash(random);
      }
      await check({ at, mode, disk, crashed: outcome === "crashed" });
    }
    if (finished) return at;
  }
}
