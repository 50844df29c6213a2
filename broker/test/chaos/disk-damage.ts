import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// Damage to one RocksDB file of a stopped node, as a failing disk or a torn write leaves it.

export const damageKinds = [
  "wal-truncate",
  "wal-flip",
  "manifest-truncate",
  "manifest-flip",
  "sst-truncate",
  "sst-flip",
] as const;
export type DamageKind = (typeof damageKinds)[number];

const patterns: Record<string, RegExp> = { wal: /^\d+\.log$/, manifest: /^MANIFEST-\d+$/, sst: /^\d+\.sst$/ };

/** Where in the file's written bytes to cut or flip (the file may be preallocated past them, zeros). */
function writtenLength(bytes: Buffer): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

/**
 * Damages the largest file of the kind's type in `rocksDir` at `at` (0-1) of its written bytes:
 * cuts it there, or flips 16 bytes there. Falls back to the WAL when the node has no file of that
 * type (no flush yet). Returns what it did.
 */
export function damage(rocksDir: string, kind: DamageKind, at: number): string {
  const [type, how] = kind.split("-") as [string, "truncate" | "flip"];
  const pick = (t: string) =>
    readdirSync(rocksDir)
      .filter((f) => patterns[t]!.test(f) && statSync(join(rocksDir, f)).size > 0)
      .sort((a, b) => statSync(join(rocksDir, b)).size - statSync(join(rocksDir, a)).size)[0];
  const file = pick(type) ?? pick("wal");
  if (!file) return "no file to damage";
  const path = join(rocksDir, file);
  const bytes = readFileSync(path);
  const end = writtenLength(bytes);
  const pos = Math.max(1, Math.floor(end * (0.2 + 0.6 * at)));
  if (how === "truncate") {
    truncateSync(path, pos);
    return `cut ${file} from ${end} to ${pos} bytes`;
  }
  for (let i = pos; i < Math.min(end, pos + 16); i++) bytes[i] = bytes[i]! ^ 0xff;
  writeFileSync(path, bytes);
  return `flipped 16 bytes of ${file} at ${pos} of ${end}`;
}
