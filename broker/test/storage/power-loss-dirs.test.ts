import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openDb } from "../../src/storage/db.js";
import { DurabilityWitness, decodeMark } from "../../src/storage/durability-mark.js";
import { buildLossyfs, LossyDisks, lossyfsUnavailable } from "../chaos/lossy-disk.js";
import type { ProcessNode } from "../support/process-cluster.js";

// A power loss over lossyfs, which loses the directory entries no directory fsync made durable: a
// node's database must keep what it synced even when the loss comes right after its first start.

const unavailable = lossyfsUnavailable();
const root = mkdtempSync(join(tmpdir(), "geobroker-power-loss-"));
const disks = new LossyDisks();
after(async () => {
  await disks.unmountAll();
  rmSync(root, { recursive: true, force: true });
});

// The writer runs in a child that exits without closing the database: a crash, then the drop.
function writeSyncedThenCrash(path: string): void {
  const db = new URL("../../src/storage/db.js", import.meta.url).href;
  const script = `
    const { openDb } = await import(${JSON.stringify(db)});
    const db = await openDb(${JSON.stringify(path)});
    await db.batch([{ type: "put", key: Buffer.from("acked"), value: Buffer.from("yes") }], true);
    process.exit(0);`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

test("a synced write made right after the database was created survives a power loss", {
  skip: unavailable,
}, async () => {
  buildLossyfs();
  const node = { id: "n1", dataDir: join(root, "n1") } as ProcessNode;
  await disks.mount(node);
  const path = join(node.dataDir, "rocksdb"); // as broker-process.ts places it
  writeSyncedThenCrash(path);
  const dropped = await disks.command(node, "drop");
  const db = await openDb(path);
  try {
    assert.equal((await db.get(Buffer.from("acked")))?.toString(), "yes", `lost after ${dropped}`);
  } finally {
    await db.close();
  }
});

// The witness is worth something after a power loss only if its mark survives one.
test("the durability mark the witness wrote survives a power loss", { skip: unavailable }, async () => {
  buildLossyfs();
  const node = { id: "n2", dataDir: join(root, "n2") } as ProcessNode;
  await disks.mount(node);
  const markFile = join(node.dataDir, "durable-mark");
  const witness = new DurabilityWitness(markFile, 0);
  witness.confirm(7);
  await witness.flush();
  const dropped = await disks.command(node, "drop");
  let mark: number | string;
  try {
    mark = decodeMark(readFileSync(markFile), markFile);
  } catch (err) {
    mark = (err as Error).message;
  }
  assert.equal(mark, 7, `after ${dropped}`);
});
