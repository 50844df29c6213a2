/**
 * Interleaves several async iterables, yielding each item as soon as its source produces it.
 * Order within one source is kept; there is no order across sources. Ends when all sources end;
 * an error from any source ends the merge with that error.
 */
export async function* mergeAsyncIterables<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) => {
    pending.set(
      index,
      iterators[index]!.next().then((result) => ({ index, result })),
    );
  };
  for (let i = 0; i < iterators.length; i++) pull(i);
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}
