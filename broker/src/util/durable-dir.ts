import { closeSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";

// A new directory's name is an entry in its parent, and a power loss keeps that entry only if the
// parent was fsynced after it was made: a file's fsync makes the file's bytes durable, not its
// name, and neither RocksDB nor mkdir(2) fsync the parent of a directory they create. Without this
// a power loss soon after a node's first start lost its whole database, synced writes included
// (lossyfs, chaos seed 11; docs/fault-injection.md).

/** fsyncs a directory, making the entries made or removed in it durable. */
export function syncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** syncDir off the event loop, for a path that writes while the node serves. */
export async function syncDirAsync(path: string): Promise<void> {
  const d = await open(path, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Makes `path` and any missing parents (as `mkdir -p`) and fsyncs the parent of each directory it
 * made, so that they survive a power loss. Does nothing when `path` exists.
 */
export function mkdirDurable(path: string): void {
  const first = mkdirSync(path, { recursive: true });
  if (first === undefined) return;
  for (let d = path; ; d = dirname(d)) {
    syncDir(dirname(d));
    if (d === first || dirname(d) === d) return;
  }
}

/**
 * Replaces a file whole and durably: written to `<path>.tmp` (created with `mode`), fsynced, renamed
 * into place and its directory fsynced. A reader (a file watcher, the next start) sees the old
 * content or the new, never part of it, and after a power loss the new name survives.
 */
export async function writeFileDurably(
  path: string,
  bytes: Uint8Array | string,
  mode = 0o644,
): Promise<void> {
  const tmp = `${path}.tmp`;
  const f = await open(tmp, "w", mode);
  try {
    await f.writeFile(bytes);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  await syncDirAsync(dirname(path));
}
