import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { mergeAsyncIterables } from "../../src/util/merge.js";

// Issue #19: the merge of many sources leaked through Promise.race (+482 MB for 1,000 idle sources):
// every race added a reaction to each idle source's pending promise, kept until it settled.

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function idle(): AsyncIterable<number> {
  return {
    [Symbol.asyncIterator]: () => {
      let stop: (() => void) | undefined;
      return {
        next: () =>
          new Promise<IteratorResult<number>>((r) => (stop = () => r({ done: true, value: undefined }))),
        return: async () => {
          stop?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

async function* busy(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

test("merging 1,000 idle sources with one busy one does not grow memory per item", async () => {
  const sources = [busy(3000), ...Array.from({ length: 1000 }, idle)];
  gc();
  const before = process.memoryUsage().heapUsed;
  let seen = 0;
  let grown = 0;
  for await (const _ of mergeAsyncIterables(sources)) {
    if (++seen === 3000) {
      gc();
      grown = process.memoryUsage().heapUsed - before;
      break;
    }
  }
  assert.equal(seen, 3000);
  assert.ok(grown < 20 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(1)} MB over 3,000 items`);
});

test("merge keeps order per source, ends when all end, and fails with the first error", async () => {
  async function* from(prefix: string, n: number) {
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      yield `${prefix}${i}`;
    }
  }
  const out: string[] = [];
  for await (const v of mergeAsyncIterables([from("a", 20), from("b", 20)])) out.push(v);
  assert.deepEqual(
    out.filter((v) => v.startsWith("a")),
    Array.from({ length: 20 }, (_, i) => `a${i}`),
  );
  assert.equal(out.length, 40);
  async function* failing() {
    yield "x";
    throw new Error("source broke");
  }
  await assert.rejects(async () => {
    for await (const _ of mergeAsyncIterables([failing(), idle() as AsyncIterable<string>])) {
    }
  }, /source broke/);
});
