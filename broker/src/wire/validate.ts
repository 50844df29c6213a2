import { invalidArgument, resourceExhausted } from "../engine/errors.js";
import { type InputLimits, maxSubscribePartitions } from "../engine/limits.js";

/** The largest request message the client port reads: one message at its limits, or one batch. */
export function maxRequestBytes(limits: InputLimits): number {
  const one = limits.maxMessageBytes + limits.maxHeaderBytes + limits.maxKeyBytes;
  // Framing per message of a batch: topic, message id, tags (bounded by the message count).
  const batch = limits.maxBatchBytes + limits.maxBatchMessages * 512;
  return Math.max(one, batch) + 64 * 1024;
}

/**
 * A batch as a whole: at most maxBatchMessages (INVALID_ARGUMENT: a client's mistake) and
 * maxBatchBytes of bodies, keys and headers (RESOURCE_EXHAUSTED, as for a request over the port's
 * size limit). Each message is still checked on its own (checkMessage) and fails alone.
 */
export function checkBatch(
  messages: readonly { body: Uint8Array; key?: Uint8Array; headers?: Record<string, string> }[],
  limits: InputLimits,
): void {
  if (messages.length === 0) throw invalidArgument("the batch is empty: send at least one message");
  if (messages.length > limits.maxBatchMessages)
    throw invalidArgument(
      `the batch has ${messages.length} messages; the limit is ${limits.maxBatchMessages} (limits.maxBatchMessages)`,
    );
  let bytes = 0;
  for (const m of messages) {
    bytes += m.body.byteLength + (m.key?.byteLength ?? 0);
    if (m.headers) for (const k in m.headers) bytes += k.length + m.headers[k]!.length;
  }
  if (bytes > limits.maxBatchBytes)
    throw resourceExhausted(
      `the batch is ${bytes} bytes of bodies, keys and headers; the limit is ${limits.maxBatchBytes} (limits.maxBatchBytes): split it`,
    );
}

/** The partitions a Subscribe names, each once, or INVALID_ARGUMENT over the bound. */
export function checkPartitionList(partitions: readonly number[]): number[] {
  if (partitions.length > maxSubscribePartitions)
    throw invalidArgument(
      `subscribe names ${partitions.length} partitions; at most ${maxSubscribePartitions} (a topic has no more)`,
    );
  return [...new Set(partitions)];
}

const topicNamePattern = /^[a-zA-Z0-9._-]{1,249}$/;

/** Names as Kafka allows them; names starting with "_" or "." are reserved for internal topics. */
export function checkTopicName(name: string, what = "topic name"): void {
  if (name.length === 0) throw invalidArgument(`${what} is empty`);
  if (!topicNamePattern.test(name)) {
    throw invalidArgument(
      `${what} ${JSON.stringify(name.slice(0, 64))} is invalid: use 1-249 characters of a-z A-Z 0-9 . _ -`,
    );
  }
  if (name === "." || name === "..") throw invalidArgument(`${what} "${name}" is invalid`);
  if (name.startsWith("_"))
    throw invalidArgument(`${what} "${name}" is reserved: names starting with "_" are internal`);
}

/** Consumer names follow topic names' rules. */
export function checkConsumerName(name: string): void {
  checkTopicName(name, "consumer name");
}

export function checkMessage(
  input: { body: Uint8Array; key?: Uint8Array; headers?: Record<string, string> },
  limits: InputLimits,
): void {
  if (input.body.byteLength > limits.maxMessageBytes) {
    throw invalidArgument(
      `message body is ${input.body.byteLength} bytes; the limit is ${limits.maxMessageBytes} (maxMessageBytes)`,
    );
  }
  if (input.key && input.key.byteLength > limits.maxKeyBytes) {
    throw invalidArgument(`message key is ${input.key.byteLength} bytes; the limit is ${limits.maxKeyBytes}`);
  }
  if (input.headers) {
    const entries = Object.entries(input.headers);
    if (entries.length > limits.maxHeaders) {
      throw invalidArgument(`message has ${entries.length} headers; the limit is ${limits.maxHeaders}`);
    }
    let bytes = 0;
    for (const [k, v] of entries) bytes += k.length + v.length;
    if (bytes > limits.maxHeaderBytes) {
      throw invalidArgument(`message headers are ${bytes} bytes; the limit is ${limits.maxHeaderBytes}`);
    }
  }
}

const nodeIdPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Node ids are DNS labels (they are pod names under Kubernetes). */
export function checkNodeId(id: string, what = "node id"): void {
  if (!nodeIdPattern.test(id))
    throw invalidArgument(
      `${what} ${JSON.stringify(id.slice(0, 64))} is invalid: a DNS label (1-63 of a-z 0-9 -, starting and ending alphanumeric)`,
    );
}
