import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hashPassword, verifyPassword } from "../../src/security/passwords.js";
import { ScryptWorkers } from "../../src/security/scrypt-workers.js";

// Issue #19: scrypt, zlib and RocksDB shared libuv's 4 threads, so a login flood stalled fsyncs. The
// other way round shows the same sharing: with the pool held, a password check on node:crypto's
// scrypt waits; on ScryptWorkers it does not.
//
// The pool is held by opens of a FIFO with no writer yet: each blocks one libuv thread without using
// any CPU, until the test opens the writing end. (Holding it with CPU-bound jobs made the outcome
// depend on the machine's load: on 2 busy cores the jobs could end before the worker's scrypt did.)

const poolThreads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

/** Holds every libuv pool thread until `release()`. */
function holdPool(): { release(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "pool-hold-"));
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const readers = Array.from({ length: poolThreads }, () => open(fifo, "r"));
  return {
    async release() {
      // Readers are waiting, so opening the writing end returns at once and wakes them all.
      const writer = openSync(fifo, "w");
      for (const r of await Promise.all(readers)) await r.close();
      closeSync(writer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

test("a password check on ScryptWorkers finishes while libuv's pool is busy; node:crypto's waits", async () => {
  const stored = await hashPassword("pw-1");
  const workers = new ScryptWorkers(2);
  try {
    assert.equal(await verifyPassword("pw-1", stored, workers.derive), true, "threads started");
    assert.equal(await verifyPassword("nope", stored, workers.derive), false);

    const held = holdPool();
    try {
      const onWorkers = verifyPassword("pw-1", stored, workers.derive);
      assert.ok(
        await settlesWithin(onWorkers, 20_000),
        "the check on ScryptWorkers must not wait for the pool",
      );
      assert.equal(await onWorkers, true);
    } finally {
      await held.release();
    }

    const heldAgain = holdPool();
    const onPool = verifyPassword("pw-1", stored);
    try {
      assert.equal(
        await settlesWithin(onPool, 500),
        false,
        "control: node:crypto's scrypt waits for the pool",
      );
    } finally {
      await heldAgain.release();
    }
    assert.equal(await onPool, true, "and finishes once the pool is free");
  } finally {
    await workers.close();
  }
});
