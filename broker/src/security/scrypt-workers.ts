import { Worker } from "node:worker_threads";

// Password checks on dedicated threads. node:crypto's async scrypt runs on libuv's thread pool (4
// threads by default), the same pool RocksDB's reads, writes and fsyncs queue on: a login flood then
// stalls storage. Here each check runs on one of `threads` worker threads instead, so whatever
// authentication costs, it is never paid with the pool's threads. The AuthThrottle in front bounds
// how many checks wait.

export type Derive = (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

interface Pending {
  resolve(key: Buffer): void;
  reject(err: Error): void;
}

export class ScryptWorkers {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly threads = 2) {}

  /** A scrypt key derivation on the least busy thread (threads start on first use). */
  readonly derive: Derive = (password, salt, keylen, options) => {
    const slot = this.pick();
    const id = this.nextId++;
    slot.busy++;
    if (slot.busy === 1) slot.worker.ref();
    return new Promise<Buffer>((resolve, reject) => {
      const settle = () => {
        slot.busy--;
        if (slot.busy === 0) slot.worker.unref();
      };
      this.pending.set(id, {
        resolve: (key) => {
          settle();
          resolve(key);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      slot.worker.postMessage({ id, password, salt, keylen, options });
    });
  };

  private pick(): { worker: Worker; busy: number } {
    if (this.workers.length < this.threads && this.workers.every((w) => w.busy > 0)) {
      const worker = new Worker(new URL("./scrypt-thread.js", import.meta.url));
      worker.unref();
      const slot = { worker, busy: 0 };
      worker.on("message", (m: { id: number; key?: Uint8Array; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.key) p.resolve(Buffer.from(m.key));
        else p.reject(new Error(m.error ?? "scrypt failed"));
      });
      worker.on("error", (err) => {
        // A dead thread fails what it held; the next check starts a fresh one.
        this.workers.splice(this.workers.indexOf(slot), 1);
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(err);
        }
      });
      this.workers.push(slot);
      return slot;
    }
    return this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.worker.terminate()));
  }
}
