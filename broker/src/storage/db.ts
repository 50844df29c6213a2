import { createRequire } from "node:module";

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
  clear(range: { gte: Buffer; lt: Buffer }): Promise<void>;
  compactRange(start: Buffer, end: Buffer): Promise<void>;
  close(): Promise<void>;
}

interface RocksLevelLike {
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: Buffer): Promise<Buffer | undefined>;
  batch(ops: BatchOp[], options: { sync: boolean }): Promise<void>;
  iterator(options: object): KvIterator;
  clear(options: object): Promise<void>;
  compactRange?: (start: Buffer, end: Buffer, cb: (err?: Error) => void) => void;
}

const require = createRequire(import.meta.url);

export async function openDb(path: string): Promise<Db> {
  const { RocksLevel } = require("@nxtedition/rocksdb") as {
    RocksLevel: new (path: string, options: object) => RocksLevelLike;
  };
  const db = new RocksLevel(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
  await db.open();
  return {
    async get(key) {
      try {
        return (await db.get(key)) ?? undefined;
      } catch (err) {
        if ((err as { code?: string }).code === "LEVEL_NOT_FOUND") return undefined;
        throw err;
      }
    },
    batch: (ops, sync) => db.batch(ops, { sync }),
    iterator: (range) => db.iterator({ ...range, keys: true, values: true }),
    clear: (range) => db.clear(range),
    compactRange: async () => {
      // Range deletes leave tombstones that RocksDB compacts in the background; nothing to force here.
    },
    close: () => db.close(),
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
