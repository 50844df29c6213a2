import { setWriteFormat, type WriteFormat, writeFormat } from "../../src/engine/write-format.js";

/** Runs `fn` with this process writing durable values in `format`, then restores the previous one. */
export function inFormat<T>(format: WriteFormat, fn: () => T): T {
  const before = writeFormat();
  setWriteFormat(format);
  try {
    return fn();
  } finally {
    setWriteFormat(before);
  }
}

/** The same around an async function. */
export async function inFormatAsync<T>(format: WriteFormat, fn: () => Promise<T>): Promise<T> {
  const before = writeFormat();
  setWriteFormat(format);
  try {
    return await fn();
  } finally {
    setWriteFormat(before);
  }
}
