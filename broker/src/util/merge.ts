/**
 * Interleaves several async iterables, yielding each item as soon as its source produces it.
 * Order within one source is kept; there is no order across sources. Ends when all sources end;
 * an error from any source ends the merge with that error.
 *
 * Each source has exactly one `next()` in flight, whose settlement goes to a queue. No
 * `Promise.race` over the pending pulls: each race adds a reaction to every pending promise, and an
 * idle source's promise keeps them all, so 1,000 idle sources grew memory by hundreds of MB.
 */
export async function* mergeAsyncIterables<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const settled: { index: number; result: IteratorResult<T> }[] = [];
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const pull = (index: number) => {
    iterators[index]!.next().then(
      (result) => {
        settled.push({ index, result });
        wake?.();
      },
      (error: unknown) => {
        failure ??= { error };
        wake?.();
      },
    );
  };
  let active = iterators.length;
  for (let i = 0; i < iterators.length; i++) pull(i);
  try {
    while (active > 0) {
      if (failure) throw failure.error;
      const next = settled.shift();
      if (!next) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      if (next.result.done) {
        active--;
        continue;
      }
      pull(next.index);
      yield next.result.value;
    }
  } finally {
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}
