import { scryptSync } from "node:crypto";
import { parentPort } from "node:worker_threads";

// The body of a password-check thread (scrypt-workers.ts): scrypt runs here synchronously, on a
// thread of its own, never on one of libuv's four pool threads that RocksDB's writes and fsyncs need.

interface Job {
  id: number;
  password: string;
  salt: Uint8Array;
  keylen: number;
  options: { N: number; r: number; p: number; maxmem: number };
}

parentPort?.on("message", (job: Job) => {
  try {
    const key = scryptSync(job.password, job.salt, job.keylen, job.options);
    parentPort!.postMessage({ id: job.id, key });
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message });
  }
});
