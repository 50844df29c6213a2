import type { Message, ServedBy, StartPosition } from "../../../gen/geobroker/v1/common_pb.js";

/** Where a subscription or a new durable consumer starts. */
export type StartAt = "earliest" | "latest" | { offset: bigint } | { time: Date };

export function startToWire(s: StartAt | undefined): StartPosition["position"] {
  if (s === undefined || s === "latest") return { case: "latest", value: true };
  if (s === "earliest") return { case: "earliest", value: true };
  if ("offset" in s) return { case: "offset", value: s.offset };
  return { case: "timestampMicros", value: BigInt(s.time.getTime()) * 1000n };
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: bigint;
  /** "<topic>/<partition>/<offset>" */
  id: string;
  timestampMicros: bigint;
  key: Uint8Array;
  body: Uint8Array;
  headers: Record<string, string>;
  servedBy: { region: string; nodeId: string } | undefined;
  /** The body as UTF-8 text. */
  text(): string;
}

const decoder = new TextDecoder();

export function receivedFromWire(m: Message, by: ServedBy | undefined): ReceivedMessage {
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    id: m.id,
    timestampMicros: m.timestampMicros,
    key: m.key,
    body: m.body,
    headers: m.headers,
    servedBy: by ? { region: by.region, nodeId: by.nodeId } : undefined,
    text: () => decoder.decode(m.body),
  };
}
