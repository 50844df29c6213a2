import { createRequire } from "node:module";
import { mkdirDurable } from "../util/durable-dir.js";

// The one place that knows which RocksDB binding is used (docs/decisions/0001-rocksdb-binding.md).

export interface BatchOp {
  type: "put" | "del";
  key: Buffer;
  value?: Buffer;
}

export interface KvIterator {
  nextv(size: number): Promise<[Buffer, Buffer][]>;
  close(): Promise<void>;
}

export interface Db {
  get(key: Buffer): Promise<Buffer | undefined>;
  batch(ops: BatchOp[], sync: boolean): Promise<void>;
  iterator(range: { gte?: Buffer; lt?: Buffer; limit?: number }): KvIterator;
  /** Deletes every key in the range. */
  clear(range: { gte: Buffer; lt: Buffer }): Promise<void>;
  /** Compacts the range now, so deleted data leaves the disk without waiting for later writes. */
  compactRange(start: Buffer, end: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface DbOptions {
  /** Memory for memtables (RocksDB keeps two of a quarter each). Smaller budgets flush sooner. */
  memtableBudgetBytes: number;
}

type Callback<T = void> = (err: Error | null | undefined, value?: T) => void;

interface LevelIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: Callback): void;
}

interface LevelDown {
  open(options: object, cb: Callback): void;
  close(cb: Callback): void;
  get(key: Buffer, options: object, cb: Callback<Buffer>): void;
  batch(ops: BatchOp[], options: object, cb: Callback): void;
  iterator(options: object): LevelIterator;
  clear(options: object, cb: Callback): void;
  compactRange(start: Buffer, end: Buffer, cb: Callback): void;
}

const require = createRequire(import.meta.url);

const call = <T = void>(f: (cb: Callback<T>) => void) =>
  new Promise<T>((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value as T))));

export async function openDb(
  path: string,
  options: DbOptions = { memtableBudgetBytes: 64 * 1024 * 1024 },
): Promise<Db> {
  const rocksdb = require("rocksdb") as (location: string) => LevelDown;
  // Made here, durably: RocksDB's own createIfMissing would not fsync the parent (durable-dir.ts).
  mkdirDurable(path);
  const db = rocksdb(path);
  await call((cb) =>
    db.open(
      {
        createIfMissing: true,
        writeBufferSize: Math.floor(options.memtableBudgetBytes / 4),
        compression: true,
        infoLogLevel: "warn",
      },
      cb,
    ),
  );
  const buffers = { keyAsBuffer: true, valueAsBuffer: true };
  return {
    async get(key) {
      try {
        return await call<Buffer>((cb) => db.get(key, { asBuffer: true }, cb));
      } catch (err) {
        if (/NotFound/i.test((err as Error).message)) return undefined;
        throw err;
      }
    },
    batch: (ops, sync) => call((cb) => db.batch(ops, { sync }, cb)),
    iterator: (range) => {
      const it = db.iterator({ ...range, ...buffers });
      let done = false;
      return {
        async nextv(size) {
          const rows: [Buffer, Buffer][] = [];
          while (!done && rows.length < size) {
            const row = await new Promise<[Buffer, Buffer] | undefined>((resolve, reject) =>
              it.next((err, key, value) => (err ? reject(err) : resolve(key ? [key, value!] : undefined))),
            );
            if (row) rows.push(row);
            else done = true;
          }
          return rows;
        },
        close: () => call((cb) => it.end(cb)),
      };
    },
    clear: (range) => call((cb) => db.clear(range, cb)),
    compactRange: (start, end) => call((cb) => db.compactRange(start, end, cb)),
    close: () => call((cb) => db.close(cb)),
  };
}

/** Every key-value pair in a range, read in chunks. */
export async function* scan(
  db: Db,
  range: { gte: Buffer; lt: Buffer },
  chunk = 1024,
): AsyncGenerator<[Buffer, Buffer]> {
  const it = db.iterator(range);
  try {
    for (;;) {
      const rows = await it.nextv(chunk);
      if (rows.length === 0) return;
      yield* rows;
    }
  } finally {
    await it.close();
  }
}
