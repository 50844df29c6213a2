import { readFile } from "node:fs/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { DurabilityMarkSchema } from "../../../gen/geobroker/storage/v1/durability_pb.js";
import { BrokerError } from "../engine/errors.js";
import { writeFileDurably } from "../util/durable-dir.js";
import type { Db } from "./db.js";
import { durableMarkKey } from "./keys.js";

// A witness, outside RocksDB, of how many synced batches the Raft log store has made
// (proto/geobroker/storage/v1/durability.proto). RocksDB (as the binding opens it: no paranoid
// checks, point-in-time WAL recovery) answers a truncated or bit-flipped WAL, or a truncated
// MANIFEST, by opening an older consistent state without an error. For a Raft node that is amnesia
// it does not know about: it may vote again in a term or miss entries it acknowledged. The count
// in the database can only be behind the file's if the database lost writes it had synced.

export const durabilityMarkVersion = 1;

export function encodeMark(syncedBatches: number): Uint8Array {
  return toBinary(
    DurabilityMarkSchema,
    create(DurabilityMarkSchema, { version: durabilityMarkVersion, syncedBatches: BigInt(syncedBatches) }),
  );
}

export function decodeMark(bytes: Uint8Array, where: string): number {
  const m = fromBinary(DurabilityMarkSchema, bytes);
  if (m.version !== durabilityMarkVersion)
    throw new BrokerError(
      `${where} has version ${m.version}; this build reads version ${durabilityMarkVersion}: run a build that knows it`,
      Code.FailedPrecondition,
    );
  return Number(m.syncedBatches);
}

/** The count of synced batches the database holds (0 before the first, or before marks existed). */
export async function loadDbMark(db: Db): Promise<number> {
  const bytes = await db.get(durableMarkKey);
  return bytes ? decodeMark(bytes, "the database's durability mark") : 0;
}

async function loadFileMark(path: string): Promise<number> {
  try {
    return decodeMark(await readFile(path), path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

/**
 * Refuses a database that lost synced writes: its mark is below the one the file witnessed. Run
 * before anything reads Raft state from it, so the node neither serves nor votes.
 */
export async function checkDurability(db: Db, markFile: string): Promise<void> {
  const [inDb, witnessed] = await Promise.all([loadDbMark(db), loadFileMark(markFile)]);
  if (inDb < witnessed)
    throw new BrokerError(
      `storage lost synced writes: the database holds ${inDb} synced batches but ${witnessed} were confirmed on disk (${markFile}); RocksDB recovered an older state from a truncated or corrupt WAL or MANIFEST. The node refuses to serve or vote with it: wipe the data directory and restart, and it rejoins as a new member (docs/raft.md, "A node that lost its disk")`,
      Code.DataLoss,
    );
}

/** Where a group's loaded Raft log stops, and where the entries on disk after the hole start. */
export interface LogHole {
  loadedTo: number;
  nextOnDisk: number;
}

/**
 * Refuses a log store that loaded a log with a hole (RaftLogStore.holes): RocksDB skipped a corrupt
 * WAL block and kept what followed it, so the log is silently cut at the hole.
 */
export function checkLogHoles(store: { holes: ReadonlyMap<number, LogHole> }): void {
  const [group, hole] = [...store.holes][0] ?? [];
  if (group === undefined || !hole) return;
  throw new BrokerError(
    `storage lost synced writes: the Raft log of group ${group} stops at index ${hole.loadedTo} but holds entries from ${hole.nextOnDisk} on (${store.holes.size} group(s) with a hole); RocksDB skipped a corrupt part of its WAL. The node refuses to serve or vote with it: wipe the data directory and restart, and it rejoins as a new member (docs/raft.md, "A node that lost its disk")`,
    Code.DataLoss,
  );
}

/**
 * Writes the file mark, at most every `intervalMs`, with the latest count the log store confirmed
 * synced: written to a temporary file, fsynced, renamed into place, and the directory fsynced. It
 * lags the database, never leads it, so a crash can never make a sound database look short. The
 * directory fsync (one a second at most) is what makes the witness witness anything after a power
 * loss: without it the mark's name need never become durable, and a database that lost synced
 * writes would be checked against no mark at all (lossyfs showed it: after a drop the file was
 * gone, decision 0063).
 */
export class DurabilityWitness {
  private confirmed = 0;
  private written: number;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    initial: number,
    private readonly intervalMs = 1000,
    /**
     * A mark the disk would not take (ENOSPC, EIO): a storage failure like any other (the node
     * stops acknowledging, server/storage-failure.ts). The next flush tries again.
     */
    private readonly onFailure: (err: Error) => void = () => {},
  ) {
    this.confirmed = initial;
    this.written = -1; // the first tick writes the file even when nothing changed since the check
  }

  /** A synced batch made the database's count `syncedBatches`. */
  confirm(syncedBatches: number): void {
    this.confirmed = Math.max(this.confirmed, syncedBatches);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes the latest confirmed count, if it is not on disk yet. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const count = this.confirmed;
      if (count === this.written) return;
      try {
        await writeFileDurably(this.path, encodeMark(count));
        this.written = count;
      } catch (err) {
        this.onFailure(err as Error);
      }
    });
    return this.writing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
