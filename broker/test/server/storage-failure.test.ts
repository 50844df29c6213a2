import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import { errorDetailsOf } from "../../src/engine/errors.js";
import { silentLogger } from "../../src/observability/logger.js";
import { RESTART_EXIT_CODE, StorageFailure, storageErrorKind } from "../../src/server/storage-failure.js";

// A node whose storage failed stays up refusing every call with UNAVAILABLE that names the failure,
// and restarts itself once its disk takes writes again (the chaos suite's disk-full and disk-eio
// nemeses drive the same on a real broker over lossyfs, in npm run chaos).

const enospc = Object.assign(
  new Error("IO error: No space left on deviceWhile appending to file: 000004.log"),
  {},
);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("names the failure a person can act on", () => {
  assert.equal(storageErrorKind(enospc), "disk full (ENOSPC)");
  assert.equal(
    storageErrorKind(Object.assign(new Error("write failed"), { code: "EIO" })),
    "I/O error (EIO)",
  );
  assert.equal(storageErrorKind(new Error("IO error: Input/output error")), "I/O error (EIO)");
  assert.equal(storageErrorKind(new Error("Corruption: bad block")), "storage error");
});

test("after a failure every call is refused, retry-safe, until the disk takes writes; then it exits to restart", async () => {
  const root = mkdtempSync(join(tmpdir(), "storage-failure-"));
  const dataDir = join(root, "data"); // absent at first: the probe's writes fail as on a dead disk
  const exits: number[] = [];
  const s = new StorageFailure({
    nodeId: "eu-0",
    dataDir,
    logger: silentLogger(),
    exit: (code) => exits.push(code),
    probeEveryMs: 20,
  });
  try {
    assert.equal(s.refusal(), undefined, "nothing is refused while the storage works");
    s.fail(enospc);
    s.fail(new Error("a later failure is not the news"));
    const e = s.refusal()!;
    assert.equal(e.code, Code.Unavailable);
    assert.match(e.rawMessage, /^node eu-0: storage failed \(disk full \(ENOSPC\): IO error: No space left/);
    assert.match(e.rawMessage, /retry at another node/);
    assert.equal(errorDetailsOf(e).retrySafe, true, "the call was not acted on");
    assert.equal(s.reason, "storage failed: disk full (ENOSPC)");
    await wait(150);
    assert.deepEqual(exits, [], "no restart while the disk still fails");
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    await wait(150);
    assert.deepEqual(exits, [RESTART_EXIT_CODE], "one restart once the disk takes writes");
  } finally {
    s.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
