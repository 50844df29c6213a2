// A durable consumer's lag per partition: messages the partition holds past the consumer's ack
// floor (every offset below the floor is acknowledged). Pure: the floor comes from GetConsumer or
// ListConsumers, the next offsets from the topic's partition info.

export interface PartitionLag {
  partition: number;
  ackFloor: bigint;
  nextOffset: bigint;
  /** Messages not yet acknowledged; 0 when the floor is at or past the end. */
  lag: bigint;
}

export function consumerLag(
  ackFloor: Readonly<Record<number, bigint>>,
  partitions: readonly { partition: number; nextOffset: bigint; firstOffset: bigint }[],
): PartitionLag[] {
  return [...partitions]
    .sort((a, b) => a.partition - b.partition)
    .map((p) => {
      // A partition the consumer has not acknowledged in starts at the oldest retained message.
      const floor = ackFloor[p.partition] ?? p.firstOffset;
      // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max takes numbers only)
      const effective = floor < p.firstOffset ? p.firstOffset : floor;
      return {
        partition: p.partition,
        ackFloor: floor,
        nextOffset: p.nextOffset,
        lag: p.nextOffset > effective ? p.nextOffset - effective : 0n,
      };
    });
}

/** The total over partitions. */
export function totalLag(lags: readonly PartitionLag[]): bigint {
  return lags.reduce((s, l) => s + l.lag, 0n);
}
