import { existsSync } from "node:fs";

// RocksDB under glibc malloc fragments: a broker moving large messages crept ~100 MiB of resident
// memory per GiB published; with jemalloc it stays flat (docs/decisions/0003-storage-memory.md).
// Broker processes this project starts itself get jemalloc when the machine has it (Debian:
// libjemalloc2); the container image always has it.

const candidates = [
  "/usr/local/lib/libjemalloc.so.2",
  "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
  "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
  "/usr/lib/libjemalloc.so.2",
];

/** The jemalloc library to preload, if installed. */
export function jemallocPath(): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** Environment for a broker child process: jemalloc preloaded when available (an explicit LD_PRELOAD wins). */
export function brokerEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const jemalloc = jemallocPath();
  return base.LD_PRELOAD || !jemalloc ? base : { ...base, LD_PRELOAD: jemalloc };
}
