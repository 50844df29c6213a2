import assert from "node:assert/strict";
import { pbkdf2 } from "node:crypto";
import { test } from "node:test";
import { hashPassword, verifyPassword } from "../../src/security/passwords.js";
import { ScryptWorkers } from "../../src/security/scrypt-workers.js";

// Issue #19: scrypt, zlib and RocksDB shared libuv's 4 threads, so a login flood stalled fsyncs. The
// other way round shows the same sharing: with the pool held by 4 long jobs, a password check on
// node:crypto's scrypt waits for them; on ScryptWorkers it does not.

const poolThreads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

function holdPool(ms: number): Promise<number>[] {
  // pbkdf2 runs on the pool; iterations tuned to take at least `ms` on this machine.
  return Array.from(
    { length: poolThreads },
    () =>
      new Promise<number>((resolve) =>
        pbkdf2("p", "s", ms * 2000, 32, "sha256", () => resolve(performance.now())),
      ),
  );
}

test("a password check on ScryptWorkers finishes while libuv's pool is busy; node:crypto's waits", async () => {
  const stored = await hashPassword("pw-1");
  const workers = new ScryptWorkers(2);
  try {
    assert.equal(await verifyPassword("pw-1", stored, workers.derive), true, "threads started");
    assert.equal(await verifyPassword("nope", stored, workers.derive), false);

    const held = holdPool(400);
    const onWorkers = await verifyPassword("pw-1", stored, workers.derive).then(() => performance.now());
    const poolFreed = Math.min(...(await Promise.all(held)));
    assert.ok(onWorkers < poolFreed, "the worker check did not wait for the pool");

    const heldAgain = holdPool(400);
    const onPool = await verifyPassword("pw-1", stored).then(() => performance.now());
    const poolFreedAgain = Math.min(...(await Promise.all(heldAgain)));
    assert.ok(onPool >= poolFreedAgain, "control: node:crypto's scrypt queued behind the pool jobs");
  } finally {
    await workers.close();
  }
});
