import { invalidArgument } from "../engine/errors.js";
import { type InputLimits, maxSubscribePartitions } from "../engine/limits.js";

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
