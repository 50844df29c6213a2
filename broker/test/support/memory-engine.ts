import { type ConsumerDefaults, ConsumerHub } from "../../src/cluster/consumers/consumer-hub.js";
import { applyConsumerCommand, type ConsumerRecord } from "../../src/cluster/consumers/consumer-records.js";
import type {
  BrokerEngine,
  CallContext,
  DeliveredMessage,
  PublishInput,
  PublishOutcome,
  SubscribeInput,
  TopicSpec,
  TopicState,
} from "../../src/engine/engine.js";
import { alreadyExists, notFound } from "../../src/engine/errors.js";
import { systemClock } from "../../src/util/clock.js";

/**
 * A single-process engine for testing the API layer alone (validation, translation, auth, streaming).
 * The real engine is the Raft-backed node, tested with multi-process clusters.
 */
export class MemoryEngine implements BrokerEngine {
  readonly identity = { nodeId: "test-0", region: "test" };
  private readonly topics = new Map<string, { state: TopicState; log: DeliveredMessage[] }>();
  private readonly waiters = new Set<() => void>();
  private clock = 1_700_000_000_000_000;
  /** Durable consumers, as the metadata group would keep them (one process: no Raft). */
  readonly consumerRecords: Record<string, ConsumerRecord> = {};
  private readonly hub: ConsumerHub;

  constructor(
    consumerDefaults: ConsumerDefaults = {
      ackTimeoutMs: 30_000,
      maxInFlight: 100,
      readAhead: 16,
      readAheadBytes: 1024 * 1024,
      flushMs: 5,
      lingerMs: 50,
    },
  ) {
    this.hub = new ConsumerHub(
      {
        consumers: () => this.consumerRecords,
        partitionsOf: (topic) => (this.topics.has(topic) ? [0] : undefined),
        nextOffsets: (topic) => new Map([[0, this.topics.get(topic)?.log.length ?? 0]]),
        propose: async (command) =>
          applyConsumerCommand(this.consumerRecords, (name) => this.topics.has(name), command),
        subscribe: (input, call) => this.subscribe(input, call),
        publish: (input) => this.publish(input),
        remote: () => undefined,
        warn: () => undefined,
        clock: systemClock,
      },
      consumerDefaults,
    );
  }

  consume: BrokerEngine["consume"] = (config, commands, call) => this.hub.consume(config, commands, call);
  createConsumer: BrokerEngine["createConsumer"] = (config, call) => this.hub.createConsumer(config, call);
  deleteConsumer: BrokerEngine["deleteConsumer"] = (topic, name, call) =>
    this.hub.deleteConsumer(topic, name, call);
  getConsumer: BrokerEngine["getConsumer"] = (topic, name) => this.hub.getConsumer(topic, name);
  listConsumers: BrokerEngine["listConsumers"] = (topic) => this.hub.listConsumers(topic);

  async publish(input: PublishInput): Promise<PublishOutcome> {
    const t = this.topics.get(input.topic) ?? this.create({ name: input.topic });
    const m: DeliveredMessage = {
      topic: input.topic,
      partition: 0,
      offset: t.log.length,
      timestampMicros: this.clock++,
      key: input.key ?? new Uint8Array(),
      body: input.body,
      headers: input.headers ?? {},
    };
    t.log.push(m);
    for (const wake of this.waiters) wake();
    return {
      topic: m.topic,
      partition: 0,
      offset: m.offset,
      timestampMicros: m.timestampMicros,
      duplicate: false,
    };
  }

  async *subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage> {
    const signal = call.signal;
    let next: number | undefined;
    while (!signal.aborted) {
      const t = this.topics.get(input.topic);
      if (!t && !input.waitForTopic) throw notFound(`topic ${input.topic} does not exist`);
      if (t) {
        if (next === undefined) next = this.startOffset(t.log, input);
        while (next < t.log.length) yield t.log[next++]!;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.waiters.add(wake);
        signal.addEventListener("abort", wake);
      });
    }
  }

  private startOffset(log: DeliveredMessage[], input: SubscribeInput): number {
    const s = input.start;
    if (s.kind === "earliest") return 0;
    if (s.kind === "latest") return log.length;
    if (s.kind === "offset") return s.offset;
    const i = log.findIndex((m) => m.timestampMicros >= s.timestampMicros);
    return i < 0 ? log.length : i;
  }

  private create(spec: Partial<TopicSpec> & { name: string }) {
    const state: TopicState = {
      name: spec.name,
      partitions: 1,
      replicationFactor: 1,
      retention: spec.retention ?? { maxAgeMs: 0, maxBytes: 0, maxMessages: 0, keepUnacknowledged: true },
      homeRegion: spec.homeRegion ?? "",
      createdAtMicros: this.clock,
      partitionStates: [],
    };
    const t = { state, log: [] as DeliveredMessage[] };
    this.topics.set(spec.name, t);
    return t;
  }

  async createTopic(spec: Partial<TopicSpec> & { name: string }): Promise<TopicState> {
    if (this.topics.has(spec.name)) throw alreadyExists(`topic ${spec.name} already exists`);
    return this.create(spec).state;
  }

  async deleteTopic(name: string): Promise<void> {
    if (!this.topics.delete(name)) throw notFound(`topic ${name} does not exist`);
  }

  async getTopic(name: string): Promise<TopicState> {
    const t = this.topics.get(name);
    if (!t) throw notFound(`topic ${name} does not exist`);
    return t.state;
  }

  async listTopics(prefix: string): Promise<TopicState[]> {
    return [...this.topics.values()].map((t) => t.state).filter((s) => s.name.startsWith(prefix));
  }

  async updateTopic(name: string, change: { retention?: TopicState["retention"] }): Promise<TopicState> {
    const t = await this.getTopic(name);
    if (change.retention) t.retention = change.retention;
    return t;
  }
}
