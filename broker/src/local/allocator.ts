import { closeSync, openSync, readSync } from "node:fs";

// How the broker processes this project starts itself (`npm start`, tests) allocate memory; the
// container image does the same in its ENV lines (Dockerfile.broker). docs/decisions/0025-memory-allocator.md
// has the measurements.
//
// Under glibc's default malloc a broker moving 1 MiB messages through RocksDB grows ~150 MiB of
// resident memory per 512 MiB published, for two reasons: (1) every thread that allocates (libuv's
// pool running RocksDB reads and writes, RocksDB's flush and compaction threads, V8's workers) gets
// its own arena, up to 8 per core, and memory freed into one arena is not reused by the others or
// returned while anything above it in that arena is live; (2) the mmap threshold is dynamic: after
// the first 1 MiB block allocated with mmap is freed, glibc raises the threshold past 1 MiB, so
// every later message-sized block comes from those arenas instead of mmap and fragments them.
// Two environment variables, read by glibc at process start, remove both: MALLOC_ARENA_MAX=2 and a
// fixed MALLOC_MMAP_THRESHOLD_ of 128 KiB (setting it also turns the dynamic threshold off), so
// message-sized blocks are mmapped and go back to the kernel when freed. With them the bound of
// broker/test/cluster/slow-consumer.test.ts holds without jemalloc. Their price is an mmap, an
// munmap and fresh zeroed pages for every message-sized block, so jemalloc, when installed
// (Debian: libjemalloc2), is still preloaded: it stays as flat without that, and the image runs it.

/** glibc malloc settings for broker processes (ignored when jemalloc is preloaded). */
export const glibcMallocEnv = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: String(128 * 1024),
} as const;

const candidates = [
  "/usr/local/lib/libjemalloc.so.2",
  "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
  "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
  "/usr/lib/libjemalloc.so.2",
];

/** True when `path` is an ELF file (a library the dynamic loader can preload), not just a name. */
function isElf(path: string): boolean {
  try {
    const fd = openSync(path, "r");
    try {
      const magic = Buffer.alloc(4);
      return readSync(fd, magic, 0, 4, 0) === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/**
 * The jemalloc library to preload, if installed. `GEOBROKER_ALLOCATOR=glibc` says there is none,
 * which is how a machine without libjemalloc2 is tried on one that has it.
 */
export function jemallocPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GEOBROKER_ALLOCATOR === "glibc") return undefined;
  return candidates.find(isElf);
}

/**
 * Environment for a broker child process: the glibc settings (an explicit value in `base` wins),
 * and jemalloc preloaded when available (an explicit LD_PRELOAD wins).
 */
export function brokerEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = { ...glibcMallocEnv, ...base };
  if (base.LD_PRELOAD) return env;
  const jemalloc = jemallocPath(base);
  return jemalloc ? { ...env, LD_PRELOAD: jemalloc } : env;
}
