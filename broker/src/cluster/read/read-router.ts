import { Code, ConnectError } from "@connectrpc/connect";
import type { CallContext, DeliveredMessage, StartSpec, SubscribeInput } from "../../engine/engine.js";
import { invalidArgument, notFound, unavailable } from "../../engine/errors.js";
import { sleep } from "../../util/clock.js";
import { mergeAsyncIterables } from "../../util/merge.js";
import { messageFromWire, startToWire, statusFromWire } from "../../wire/convert.js";
import { nearestFirst } from "../forwarding/forward-retry.js";
import { Forwarder } from "../forwarding/forwarder.js";
import { maxForwardHops, type NodeContext } from "../node-context.js";
import { findPartition, type PartitionPlacement } from "../state/metadata-state.js";
import type { PartitionReader, ReadOptions } from "./partition-reader.js";

// The subscribe path: which partitions a subscription reads, and where each is read from: this
// node's replica (partition-reader.ts), or the nearest node that has one, going on after the last
// delivered offset when the replica moves or its node fails.

export class ReadRouter {
  constructor(
    private readonly ctx: NodeContext,
    private readonly reader: PartitionReader,
  ) {}

  async *subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage> {
    const { ctx } = this;
    const signal = call.signal;
    let topic = ctx.metadata().topics[input.topic];
    while (!topic) {
      if (!input.waitForTopic) throw notFound(`topic ${input.topic} does not exist`);
      try {
        topic = await ctx.changes.until(
          () => ctx.metadata().topics[input.topic],
          3_600_000,
          signal,
          "the topic",
        );
      } catch {
        return;
      }
    }
    const count = topic.partitions.length;
    const wanted = input.partitions.length > 0 ? input.partitions : topic.partitions.map((p) => p.partition);
    for (const p of wanted) {
      if (p >= count)
        throw invalidArgument(`partition ${p} does not exist: topic ${input.topic} has ${count}`);
    }
    const options = {
      ...(input.linearizableStart ? { linearizableStart: true } : {}),
      ...(input.onStatus ? { onStatus: input.onStatus } : {}),
    };
    const streams = wanted.map((p) =>
      this.readAnywhere(input.topic, topic.partitions[p]!, input.start, call, options),
    );
    yield* streams.length === 1 ? streams[0]! : mergeAsyncIterables(streams);
  }

  /**
   * Reads a partition from this node's replica, or, when this node has none, through the nearest
   * node that has one (same region first), so a client never has to know where replicas live. When
   * the replica moves or its node fails, reading goes on elsewhere after the last delivered offset.
   */
  private async *readAnywhere(
    topic: string,
    placement: PartitionPlacement,
    start: StartSpec,
    call: CallContext,
    options: ReadOptions,
  ): AsyncGenerator<DeliveredMessage> {
    const { ctx } = this;
    let next = start;
    for (let attempt = 0; !call.signal.aborted; attempt++) {
      const current = findPartition(ctx.metadata(), placement.groupId)?.placement;
      if (!current) return; // topic deleted
      if (ctx.groups.partition(placement.groupId)) {
        for await (const m of this.reader.read(
          topic,
          current.groupId,
          current.partition,
          next,
          call.signal,
          options,
        )) {
          yield m;
          next = { kind: "offset", offset: m.offset + 1 };
        }
        continue; // the replica here stopped (moved away, or the topic was deleted)
      }
      if (call.hops >= maxForwardHops)
        throw unavailable(
          `${topic}/${placement.partition} moved while the subscription was forwarded; retry`,
        );
      const replicas = nearestFirst(ctx.metadata().nodes, current.replicas, ctx.region);
      const target = replicas[attempt % Math.max(1, replicas.length)];
      if (!target) throw unavailable(`no replica of ${topic}/${placement.partition} is known`);
      try {
        for await (const res of ctx.forwarder.to(target.clientAddress).consume.subscribe(
          {
            topic,
            partitions: [placement.partition],
            start: startToWire(next),
            linearizableStart: options.linearizableStart === true,
            reportStatus: options.onStatus !== undefined,
          },
          { headers: Forwarder.options(call).headers, signal: call.signal },
        )) {
          if (res.status) options.onStatus?.(statusFromWire(res.status));
          const m = res.message;
          if (!m) continue;
          yield messageFromWire(m);
          next = { kind: "offset", offset: Number(m.offset) + 1 };
        }
        return;
      } catch (err) {
        if (call.signal.aborted) return;
        const code = err instanceof ConnectError ? err.code : Code.Unavailable;
        if (code !== Code.Unavailable && code !== Code.FailedPrecondition && code !== Code.Canceled)
          throw err;
        await sleep(this.ctx.clock, Math.min(1000, 100 * (attempt + 1)), call.signal);
      }
    }
  }
}
