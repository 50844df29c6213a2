import type {
  CallContext,
  ConsumeCommand,
  ConsumeEvent,
  ConsumerConfigInput,
  ConsumerEngine,
  ConsumerInfo,
  DeliveredMessage,
  PublishInput,
  PublishOutcome,
  SubscribeInput,
} from "../../engine/engine.js";
import { deadLetterTopicFor } from "../../engine/engine.js";
import { invalidArgument, metadataError, notFound } from "../../engine/errors.js";
import type { Clock } from "../../util/clock.js";
import { neverReachedTarget } from "../forwarding/forwarder.js";
import { type ConsumerQuotas, checkConsumerQuota } from "../state/quotas.js";
import { ConsumerDispatcher, type DispatcherOptions } from "./consumer-dispatcher.js";
import {
  type ConsumerCommand,
  type ConsumerRecord,
  type ConsumerResult,
  type ConsumerSpec,
  consumerKey,
} from "./consumer-records.js";

/** What the hub needs from its node (ClusterNode in a broker, an in-memory engine in API tests). */
export interface ConsumerHubPort {
  consumers(): Record<string, ConsumerRecord>;
  /** The topic's partition numbers; undefined when it does not exist. */
  partitionsOf(topic: string): number[] | undefined;
  /** Next offset per partition where this node knows it (for `pending`). */
  nextOffsets(topic: string): Map<number, number>;
  propose(command: ConsumerCommand, call: CallContext): Promise<ConsumerResult>;
  subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage>;
  publish(input: PublishInput, call: CallContext): Promise<PublishOutcome>;
  /**
   * Serves the stream on the node that dispatches this consumer, when that is another node, so the
   * sessions of one consumer share its messages; undefined when this node dispatches it.
   */
  remote(
    config: ConsumerConfigInput,
    commands: AsyncIterable<ConsumeCommand>,
    call: CallContext,
  ): AsyncIterable<ConsumeEvent> | undefined;
  warn(message: string, fields: Record<string, unknown>): void;
  /** The node's clock (creation times, ack deadlines, dispatcher timers). */
  clock: Clock;
}

export interface ConsumerDefaults extends DispatcherOptions {
  ackTimeoutMs: number;
  /** Durable consumers one topic, and one principal, may have (limits.quotas); absent: no limit. */
  quotas?: ConsumerQuotas;
}

/** Headers a dead-lettered message carries, so whoever reads the dead-letter topic knows its origin. */
export const deadLetterHeaders = {
  topic: "geobroker-dead-letter-topic",
  partition: "geobroker-dead-letter-partition",
  offset: "geobroker-dead-letter-offset",
  deliveries: "geobroker-dead-letter-deliveries",
} as const;

/** This node's durable consumers: one dispatcher per consumer with attached sessions. */
export class ConsumerHub implements ConsumerEngine {
  private readonly dispatchers = new Map<string, ConsumerDispatcher>();

  constructor(
    private readonly port: ConsumerHubPort,
    private readonly defaults: ConsumerDefaults,
  ) {}

  private spec(config: ConsumerConfigInput): ConsumerSpec {
    if (config.ackTimeoutMs < 0) throw invalidArgument("ack_timeout_ms must not be negative");
    return {
      name: config.name,
      topic: config.topic,
      start: config.start,
      ackTimeoutMs: config.ackTimeoutMs || this.defaults.ackTimeoutMs,
      maxDeliveries: config.maxDeliveries,
      deadLetterTopic: deadLetterTopicFor(config.topic, config.deadLetterTopic, config.maxDeliveries),
    };
  }

  private async ensure(
    config: ConsumerConfigInput,
    call: CallContext,
    ifAbsent: boolean,
  ): Promise<ConsumerRecord> {
    if (!this.port.partitionsOf(config.topic)) throw notFound(`topic ${config.topic} does not exist`);
    if (this.defaults.quotas)
      checkConsumerQuota(
        this.port.consumers(),
        config.topic,
        config.name,
        this.defaults.quotas,
        call.principal,
      );
    const result = await this.port.propose(
      {
        type: "createConsumer",
        spec: this.spec(config),
        atMicros: this.port.clock.nowMicros(),
        ifAbsent,
        ...(call.principal ? { owner: call.principal } : {}),
      },
      call,
    );
    if (!result.ok) throw metadataError(result.error);
    return this.port.consumers()[consumerKey(config.topic, config.name)] ?? result.consumer!;
  }

  async *consume(
    config: ConsumerConfigInput,
    commands: AsyncIterable<ConsumeCommand>,
    call: CallContext,
  ): AsyncIterable<ConsumeEvent> {
    const record = await this.ensure(config, call, true);
    const remote = this.port.remote(config, commands, call);
    if (remote) {
      let reached = false;
      try {
        for await (const event of remote) {
          reached = true;
          yield event;
        }
        return;
      } catch (err) {
        // The dispatching node is down: serve here rather than fail (at-least-once still holds).
        if (reached || !neverReachedTarget(err)) throw err;
      }
    }
    const key = consumerKey(config.topic, config.name);
    let dispatcher = this.dispatchers.get(key);
    if (!dispatcher || dispatcher.isClosed) {
      dispatcher = this.startDispatcher(record.spec, call);
      this.dispatchers.set(key, dispatcher);
    }
    const session = dispatcher.attach();
    const d = dispatcher;
    const onAbort = () => d.detach(session);
    call.signal.addEventListener("abort", onAbort, { once: true });
    // Commands are read alongside the deliveries; the stream ends when the client stops sending.
    let failure: unknown;
    void (async () => {
      try {
        for await (const cmd of commands) d.handle(session, cmd);
      } catch (err) {
        failure = err; // a malformed request, or the client went away
      } finally {
        d.detach(session);
      }
    })();
    try {
      yield { kind: "started", info: this.info(record) };
      for await (const delivery of session.deliveries())
        yield { kind: "delivery", message: delivery.message, deliveryCount: delivery.deliveryCount };
    } finally {
      call.signal.removeEventListener("abort", onAbort);
      d.detach(session);
    }
    if (failure !== undefined && !call.signal.aborted) throw failure;
  }

  /**
   * The dispatcher reads and dead-letters on behalf of the consumer's clients, with the credentials
   * of the client that started it (forwarded reads and dead-letter publishes are authorized as that
   * caller on other nodes).
   */
  private startDispatcher(
    spec: ConsumerSpec,
    { authorization, forwardedFor }: CallContext,
  ): ConsumerDispatcher {
    const key = consumerKey(spec.topic, spec.name);
    const internal: CallContext = {
      signal: new AbortController().signal,
      hops: 0,
      // A dead-letter topic is never created by a dead letter: it must exist (created by someone
      // allowed to), so a consumer cannot make topics appear by failing deliveries.
      mayCreateTopic: () => false,
      ...(authorization ? { authorization } : {}),
      ...(forwardedFor ? { forwardedFor } : {}),
    };
    const dispatcher: ConsumerDispatcher = new ConsumerDispatcher(
      spec,
      {
        partitions: this.port.partitionsOf(spec.topic) ?? [],
        committedCursor: (p) => this.port.consumers()[key]?.cursors[String(p)],
        read: (partition, start, signal) =>
          this.port.subscribe(
            // Linearizable: a consumer's start (latest, a timestamp) is decided once and committed, so it
            // must not be decided on a replica that lags (docs/raft.md, "Read guarantees").
            {
              topic: spec.topic,
              partitions: [partition],
              start,
              waitForTopic: false,
              linearizableStart: true,
            },
            { ...internal, signal },
          ),
        commit: async (progress) => {
          const r = await this.port.propose(
            { type: "consumerProgress", topic: spec.topic, name: spec.name, ...progress },
            internal,
          );
          if (!r.ok) throw metadataError(r.error);
        },
        deadLetter: async (m, deliveries) => {
          await this.port.publish(
            {
              topic: spec.deadLetterTopic,
              key: m.key,
              body: m.body,
              headers: {
                ...m.headers,
                [deadLetterHeaders.topic]: m.topic,
                [deadLetterHeaders.partition]: String(m.partition),
                [deadLetterHeaders.offset]: String(m.offset),
                [deadLetterHeaders.deliveries]: String(deliveries),
              },
              // The same dead letter published twice (a retry, a failover) is stored once.
              messageId: `dlq/${key}/${m.partition}/${m.offset}`,
            },
            internal,
          );
        },
        clock: this.port.clock,
        warn: (message, fields) => this.port.warn(message, fields),
      },
      this.defaults,
      () => {
        if (this.dispatchers.get(key) === dispatcher) this.dispatchers.delete(key);
      },
    );
    return dispatcher;
  }

  async createConsumer(config: ConsumerConfigInput, call: CallContext): Promise<ConsumerInfo> {
    return this.info(await this.ensure(config, call, false));
  }

  async deleteConsumer(topic: string, name: string, call: CallContext): Promise<void> {
    const result = await this.port.propose({ type: "deleteConsumer", topic, name }, call);
    if (!result.ok) throw metadataError(result.error);
    await this.dispatchers.get(consumerKey(topic, name))?.close();
  }

  async getConsumer(topic: string, name: string): Promise<ConsumerInfo> {
    const record = this.port.consumers()[consumerKey(topic, name)];
    if (!record) throw notFound(`consumer ${name} on ${topic} does not exist`);
    return this.info(record);
  }

  async listConsumers(topic: string): Promise<ConsumerInfo[]> {
    return Object.values(this.port.consumers())
      .filter((c) => !topic || c.spec.topic === topic)
      .sort((a, b) =>
        consumerKey(a.spec.topic, a.spec.name).localeCompare(consumerKey(b.spec.topic, b.spec.name)),
      )
      .map((c) => this.info(c));
  }

  private info(record: ConsumerRecord): ConsumerInfo {
    const ackFloor: Record<number, number> = {};
    let pending = 0;
    const ends = this.port.nextOffsets(record.spec.topic);
    for (const [p, c] of Object.entries(record.cursors)) {
      ackFloor[Number(p)] = c.floor;
      const end = ends.get(Number(p));
      if (end !== undefined) pending += Math.max(0, end - c.floor - c.above.length);
    }
    return {
      config: { ...record.spec },
      ackFloor,
      pending,
      redelivered: record.redelivered,
      deadLettered: record.deadLettered,
    };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close()));
  }
}
