import { create } from "@bufbuild/protobuf";
import {
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumeResponse,
  type ConsumerConfig,
  ConsumerConfigSchema,
  ConsumerInfoSchema,
  type ConsumerInfo as WireConsumerInfo,
} from "../../../gen/geobroker/v1/consume_pb.js";
import type {
  ConsumeCommand,
  ConsumeEvent,
  ConsumerConfigInput,
  ConsumerInfo,
  MessageRef,
} from "../engine/engine.js";
import { invalidArgument } from "../engine/errors.js";
import { messageFromWire, safeNumber, startFromWire, startToWire } from "./convert.js";
import { checkConsumerName, checkTopicName } from "./validate.js";

// Durable-consumer messages between the wire and the engine, both ways: a node that forwards a
// Consume stream to the node dispatching the consumer speaks the wire again.

export function consumerConfigFromWire(c: ConsumerConfig | undefined): ConsumerConfigInput {
  if (!c)
    throw invalidArgument("the first Consume request must be `start` with the consumer's configuration");
  checkTopicName(c.topic);
  checkConsumerName(c.name);
  if (c.deadLetterTopic) checkTopicName(c.deadLetterTopic);
  if (c.deadLetterTopic === c.topic && c.topic !== "")
    throw invalidArgument("dead_letter_topic must differ from the consumed topic");
  return {
    name: c.name,
    topic: c.topic,
    start: startFromWire(c.start),
    ackTimeoutMs: safeNumber(c.ackTimeoutMs, "ack_timeout_ms"),
    maxDeliveries: c.maxDeliveries,
    deadLetterTopic: c.deadLetterTopic,
  };
}

export function consumerConfigToWire(c: ConsumerConfigInput): ConsumerConfig {
  return create(ConsumerConfigSchema, {
    name: c.name,
    topic: c.topic,
    start: startToWire(c.start),
    ackTimeoutMs: BigInt(c.ackTimeoutMs),
    maxDeliveries: c.maxDeliveries,
    deadLetterTopic: c.deadLetterTopic,
  });
}

export function consumerInfoToWire(i: ConsumerInfo): WireConsumerInfo {
  return create(ConsumerInfoSchema, {
    config: consumerConfigToWire(i.config),
    ackFloor: Object.fromEntries(Object.entries(i.ackFloor).map(([p, f]) => [Number(p), BigInt(f)])),
    pending: BigInt(i.pending),
    redelivered: BigInt(i.redelivered),
    deadLettered: BigInt(i.deadLettered),
  });
}

export function consumerInfoFromWire(i: WireConsumerInfo | undefined): ConsumerInfo {
  return {
    config: consumerConfigFromWire(i?.config),
    ackFloor: Object.fromEntries(Object.entries(i?.ackFloor ?? {}).map(([p, f]) => [Number(p), Number(f)])),
    pending: Number(i?.pending ?? 0n),
    redelivered: Number(i?.redelivered ?? 0n),
    deadLettered: Number(i?.deadLettered ?? 0n),
  };
}

const refsFromWire = (refs: { partition: number; offset: bigint }[]): MessageRef[] =>
  refs.map((r) => ({ partition: r.partition, offset: safeNumber(r.offset, "offset") }));

/** A request after `start`; undefined for an empty one (ignored, like a keepalive). */
export function commandFromWire(r: ConsumeRequest): ConsumeCommand | undefined {
  const q = r.request;
  switch (q.case) {
    case "credit":
      return { kind: "credit", credit: q.value };
    case "ack":
      return { kind: "ack", refs: refsFromWire(q.value.refs) };
    case "nack": {
      const delayMs = safeNumber(q.value.delayMs, "nack.delay_ms");
      if (delayMs < 0) throw invalidArgument("nack.delay_ms must not be negative");
      return { kind: "nack", refs: refsFromWire(q.value.refs), delayMs };
    }
    case "start":
      throw invalidArgument("`start` may only be the first request of a Consume stream");
    default:
      return undefined;
  }
}

export function commandToWire(c: ConsumeCommand): ConsumeRequest {
  const refs = (rs: MessageRef[]) => rs.map((r) => ({ partition: r.partition, offset: BigInt(r.offset) }));
  switch (c.kind) {
    case "credit":
      return create(ConsumeRequestSchema, { request: { case: "credit", value: c.credit } });
    case "ack":
      return create(ConsumeRequestSchema, { request: { case: "ack", value: { refs: refs(c.refs) } } });
    case "nack":
      return create(ConsumeRequestSchema, {
        request: { case: "nack", value: { refs: refs(c.refs), delayMs: BigInt(c.delayMs) } },
      });
  }
}

export function eventFromWire(r: ConsumeResponse): ConsumeEvent | undefined {
  const v = r.response;
  if (v.case === "started") return { kind: "started", info: consumerInfoFromWire(v.value) };
  if (v.case === "delivery" && v.value.message)
    return {
      kind: "delivery",
      deliveryCount: v.value.deliveryCount,
      message: messageFromWire(v.value.message),
    };
  return undefined;
}
