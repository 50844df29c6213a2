import { create } from "@bufbuild/protobuf";
import { PublishStreamRequestSchema } from "../../../gen/geobroker/v1/publish_pb.js";
import { clientCommand, UsageError } from "./client-command.js";

const encoder = new TextEncoder();

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export const pubCommand = clientCommand({
  name: "pub",
  summary: "publish messages to a topic",
  usage: `geobroker pub TOPIC [MESSAGE...] [--key K] [--header k=v ...] [--stdin] [--count N --size BYTES]

  MESSAGE...      each argument is one message
  --stdin         one message per line of standard input
  --key K         partition key (messages with one key keep their order)
  --header k=v    a header, repeatable
  --count N       a quick load: N messages of --size bytes (default 256), pipelined; prints msg/s and ack latency`,
  options: {
    key: { type: "string" },
    header: { type: "string", multiple: true },
    stdin: { type: "boolean", default: false },
    count: { type: "string" },
    size: { type: "string", default: "256" },
  },
  async run(c, values, positionals) {
    const [topic, ...messages] = positionals;
    if (!topic) throw new UsageError("name a topic");
    const headers: Record<string, string> = {};
    for (const h of (values.header as string[] | undefined) ?? []) {
      const at = h.indexOf("=");
      if (at <= 0) throw new UsageError(`--header ${h}: use key=value`);
      headers[h.slice(0, at)] = h.slice(at + 1);
    }
    const key = values.key ? encoder.encode(String(values.key)) : new Uint8Array();
    if (values.count !== undefined) {
      const count = Number(values.count);
      const size = Number(values.size);
      if (!Number.isInteger(count) || count < 1 || !Number.isInteger(size) || size < 0) {
        throw new UsageError("--count and --size take whole numbers");
      }
      return load(c, topic, count, size, key, headers);
    }
    if (values.stdin) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      messages.push(...Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean));
    }
    if (messages.length === 0) throw new UsageError("give a message, --stdin or --count");
    for (const text of messages) {
      const started = performance.now();
      const res = await c.publish.publish({ topic, key, headers, body: encoder.encode(text) });
      console.log(
        `${res.id}  (${(performance.now() - started).toFixed(1)} ms, served by ${res.servedBy?.nodeId} in ${res.servedBy?.region})`,
      );
    }
    return 0;
  },
});

async function load(
  c: Parameters<Parameters<typeof clientCommand>[0]["run"]>[0],
  topic: string,
  count: number,
  size: number,
  key: Uint8Array,
  headers: Record<string, string>,
): Promise<number> {
  const body = new Uint8Array(size).fill(120);
  const window = 1000;
  const sentAt = new Map<bigint, number>();
  const latencies: number[] = [];
  let errors = 0;
  let next = 0n;
  let release: (() => void) | undefined;
  async function* requests() {
    for (let i = 0; i < count; i++) {
      while (sentAt.size >= window) await new Promise<void>((r) => (release = r));
      const sequence = next++;
      sentAt.set(sequence, performance.now());
      yield create(PublishStreamRequestSchema, { sequence, request: { topic, key, headers, body } });
    }
  }
  const started = performance.now();
  let lastReport = started;
  for await (const res of c.publish.publishStream(requests())) {
    const t = sentAt.get(res.sequence);
    sentAt.delete(res.sequence);
    if (res.result.case === "ack" && t !== undefined) latencies.push(performance.now() - t);
    else errors++;
    release?.();
    release = undefined;
    if (performance.now() - lastReport > 1000) {
      lastReport = performance.now();
      console.log(`  ${latencies.length + errors}/${count} acknowledged`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(
    `${latencies.length} messages of ${size} B in ${seconds.toFixed(2)} s: ${Math.round(latencies.length / seconds)} msg/s, ` +
      `ack latency p50 ${percentile(latencies, 0.5).toFixed(1)} ms p99 ${percentile(latencies, 0.99).toFixed(1)} ms, ${errors} errors`,
  );
  return errors > 0 ? 1 : 0;
}
