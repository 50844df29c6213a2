// What both entries (node.ts, web.ts) export besides their own `connect`.

export { Code } from "@connectrpc/connect";
export type { Auth } from "./auth.js";
export type { ClientOptions, GeoBrokerClient } from "./client.js";
export type { ConsumedMessage, ConsumerOptions, DurableConsumer } from "./consumer.js";
export type { LeaderHint } from "./errors.js";
export { GeoBrokerError } from "./errors.js";
export type { ReceivedMessage, StartAt } from "./messages.js";
export type { OutgoingMessage, Producer, ProducerOptions, PublishResult, QueuedMessage } from "./producer.js";
export { newMessageId } from "./producer.js";
export type { RetryOptions } from "./retry.js";
export type { StatusEvent } from "./status.js";
export type { SubscribeOptions, Subscription } from "./subscriber.js";
export type { OpenTelemetryApi } from "./telemetry.js";
