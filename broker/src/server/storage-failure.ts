import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { BrokerError } from "../engine/errors.js";
import type { Logger } from "../observability/logger.js";

// What a node does when its storage fails (a write or fsync answered ENOSPC, EIO, ...). Memory and
// disk may disagree after a failed fsync, so the node's Raft groups stop at once and nothing more is
// acknowledged (group-runner.ts; etcd and PostgreSQL make the same choice). The process stays up,
// though: every client call is refused with UNAVAILABLE naming the failure, so clients retry at
// another node and an operator reads why in the answer, the log and /readyz. Once a probe write to
// the data directory succeeds again (space was freed, the disk came back), the process exits with
// RESTART_EXIT_CODE so that its supervisor starts it again on what its disk holds: the only state
// that can be trusted after a failed write is the one read back from disk.

/** The exit code of a node that restarts itself because its disk works again (EX_TEMPFAIL). */
export const RESTART_EXIT_CODE = 75;

/** A name for the failure a person can act on. */
export function storageErrorKind(err: Error): string {
  const text = `${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`;
  if (/ENOSPC|no space left/i.test(text)) return "disk full (ENOSPC)";
  if (/EIO|input\/output error/i.test(text)) return "I/O error (EIO)";
  if (/EROFS|read-only file system/i.test(text)) return "read-only file system (EROFS)";
  return "storage error";
}

export interface StorageFailureOptions {
  nodeId: string;
  dataDir: string;
  logger: Logger;
  /** Ends the process (process.exit in a broker; a test records it). */
  exit: (code: number) => void;
  /** How often the disk is probed after a failure. */
  probeEveryMs?: number;
}

export class StorageFailure {
  private failure: Error | undefined;
  private probe: NodeJS.Timeout | undefined;

  constructor(private readonly o: StorageFailureOptions) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Why the node is not ready (for /readyz), or undefined while the storage works. */
  get reason(): string | undefined {
    return this.failure ? `storage failed: ${storageErrorKind(this.failure)}` : undefined;
  }

  /** Records the first failure, says so in the log, and starts probing the disk. */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.o.logger.error(
      `storage failed (${storageErrorKind(err)}): this node acknowledges nothing more and refuses every call until its disk takes writes again, then restarts itself (exit ${RESTART_EXIT_CODE})`,
      { err: err.message },
    );
    this.probe = setInterval(() => this.check(), this.o.probeEveryMs ?? 1000);
  }

  /** The answer to every client call while the storage is failed (retry-safe: nothing was done). */
  refusal(): BrokerError | undefined {
    if (!this.failure) return undefined;
    return new BrokerError(
      `node ${this.o.nodeId}: storage failed (${storageErrorKind(this.failure)}: ${this.failure.message.slice(0, 200)}); it takes no calls until its disk works again: retry at another node`,
      Code.Unavailable,
      { retrySafe: true },
    );
  }

  /** One probe: write, fsync and remove a small file; on success, exit for a restart. */
  private check(): void {
    const path = join(this.o.dataDir, ".storage-probe");
    try {
      const fd = openSync(path, "w");
      try {
        writeSync(fd, "probe");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      unlinkSync(path);
    } catch {
      return; // still failing
    }
    this.stop();
    this.o.logger.warn(
      `the disk takes writes again: exiting (${RESTART_EXIT_CODE}) so that the node restarts on what its storage holds`,
    );
    this.o.exit(RESTART_EXIT_CODE);
  }

  stop(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
  }
}
