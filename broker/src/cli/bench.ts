import { create } from "@bufbuild/protobuf";
import { PublishStreamRequestSchema } from "../../../gen/geobroker/v1/publish_pb.js";
import { type Clients, connectClients } from "../client/connect.js";
import { type GeoBrokerClient, newMessageId } from "../client/node.js";
import { LatencyRecorder } from "../util/latency.js";
import { type CliContext, clientCommand, UsageError } from "./client-command.js";
import { wholeNumber } from "./start-flag.js";

export interface LoadSpec {
  topic: string;
  messages: number;
  size: number;
  inFlight: number;
  key?: Uint8Array;
  headers?: Record<string, string>;
  lingerMs?: number;
  /** Every second while running. */
  progress?: (done: number) => void;
}

export interface LoadResult {
  acked: number;
  errors: number;
  seconds: number;
  /** Client process CPU (user + system) while publishing, microseconds. */
  cpuMicros: number;
  latency: LatencyRecorder;
}

function measure(spec: LoadSpec, run: (ack: (sentAt: number) => void, fail: () => void) => Promise<void>) {
  return async (): Promise<LoadResult> => {
    const latency = new LatencyRecorder();
    let errors = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const timer = setInterval(() => spec.progress?.(latency.count + errors), 1000);
    try {
      await run(
        (sentAt) => latency.recordMs(performance.now() - sentAt),
        () => errors++,
      );
    } finally {
      clearInterval(timer);
    }
    const used = process.cpuUsage(cpu);
    return {
      acked: latency.count,
      errors,
      seconds: (performance.now() - started) / 1000,
      cpuMicros: used.user + used.system,
      latency,
    };
  };
}

/** Publishes through the library's producer: `inFlight` is its window. */
export function libraryLoad(client: GeoBrokerClient, spec: LoadSpec): Promise<LoadResult> {
  const body = new Uint8Array(spec.size).fill(120);
  return measure(spec, async (ack, fail) => {
    const producer = client.producer({
      maxInFlight: spec.inFlight,
      ...(spec.lingerMs !== undefined ? { lingerMs: spec.lingerMs } : {}),
    });
    for (let i = 0; i < spec.messages; i++) {
      const sentAt = performance.now();
      const q = await producer.queue({
        topic: spec.topic,
        body,
        ...(spec.key ? { key: spec.key } : {}),
        headers: { ...spec.headers, "bench-sent": String(Date.now()) },
      });
      q.result.then(() => ack(sentAt), fail);
    }
    await producer.close();
  })();
}

/**
 * The baseline: the bare generated client's PublishStream at one node, `inFlight` frames
 * outstanding, the same message ids and headers the library sends, and nothing else.
 */
export function rawLoad(raw: Clients, spec: LoadSpec): Promise<LoadResult> {
  const body = new Uint8Array(spec.size).fill(120);
  return measure(spec, async (ack, fail) => {
    const sentAt = new Map<bigint, number>();
    let release: (() => void) | undefined;
    async function* requests() {
      for (let i = 0; i < spec.messages; i++) {
        while (sentAt.size >= spec.inFlight) await new Promise<void>((r) => (release = r));
        const sequence = BigInt(i);
        sentAt.set(sequence, performance.now());
        yield create(PublishStreamRequestSchema, {
          sequence,
          request: {
            topic: spec.topic,
            body,
            ...(spec.key ? { key: spec.key } : {}),
            messageId: newMessageId(),
            headers: { ...spec.headers, "bench-sent": String(Date.now()) },
          },
        });
      }
    }
    for await (const res of raw.publish.publishStream(requests())) {
      const t = sentAt.get(res.sequence);
      sentAt.delete(res.sequence);
      if (res.result.case === "ack" && t !== undefined) ack(t);
      else fail();
      release?.();
      release = undefined;
    }
  })();
}

/** Subscribes from now until `messages` bench messages arrived; end-to-end latency from their header. */
async function subscribeLoad(client: GeoBrokerClient, topic: string, messages: number, signal: AbortSignal) {
  const latency = new LatencyRecorder();
  let first = 0;
  const sub = client.subscribe({ topic, start: "latest", signal });
  const done = (async () => {
    for await (const m of sub) {
      const sent = Number(m.headers["bench-sent"]);
      if (!Number.isFinite(sent)) continue;
      if (first === 0) first = performance.now();
      latency.recordMs(Date.now() - sent);
      if (latency.count >= messages) break;
    }
    return { latency, seconds: (performance.now() - first) / 1000 };
  })();
  return { sub, done };
}

const rate = (n: number, s: number) => `${Math.round(n / Math.max(s, 1e-9)).toLocaleString("en-US")} msg/s`;

export function report(label: string, r: LoadResult, size: number): string {
  const mb = (r.acked * size) / 1e6 / Math.max(r.seconds, 1e-9);
  return (
    `${label}: ${r.acked} acked, ${r.errors} errors in ${r.seconds.toFixed(2)} s: ${rate(r.acked, r.seconds)}, ` +
    `${mb.toFixed(2)} MB/s, client CPU ${(r.cpuMicros / Math.max(r.acked, 1)).toFixed(1)} us/msg\n` +
    `  ack latency ${r.latency.summary()}`
  );
}

async function runBench(c: CliContext, values: Record<string, unknown>, topic: string): Promise<number> {
  const mode = String(values.client ?? "library");
  if (!["library", "raw", "both"].includes(mode)) throw new UsageError("--client is library, raw or both");
  const spec: LoadSpec = {
    topic,
    messages: wholeNumber(values, "msgs", 10_000, 1, 100_000_000),
    size: wholeNumber(values, "size", 128, 0, 16 * 1024 * 1024),
    inFlight: wholeNumber(values, "in-flight", 1000, 1, 4096),
    ...(values.linger !== undefined ? { lingerMs: wholeNumber(values, "linger", 5, 0, 10_000) } : {}),
  };
  const subs = wholeNumber(values, "sub", 0, 0, 64);
  console.log(
    `bench ${topic}: ${spec.messages} messages of ${spec.size} B, ${spec.inFlight} in flight, ${subs} subscribers, client ${mode}`,
  );
  // Create the topic (and learn its leaders) before the clock starts.
  await c.client.publish({ topic, body: "warm-up" });
  const info = await c.client.admin.clusterInfo();
  // The baseline talks to the node the library sends to (partition 0's leader), so that the
  // difference is the client's own, not a forward hop more or less.
  const leaderId = info.groups.find((g) => g.topic === topic && g.partition === 0)?.leaderNodeId;
  const leader = info.nodes.find((n) => n.id === leaderId);
  const raw = leader?.clientAddress ? connectClients({ ...c.target, endpoint: leader.clientAddress }) : c.raw;
  const partitions = info.groups.filter((g) => g.topic === topic).length;
  const abort = new AbortController();
  const subscribers = await Promise.all(
    Array.from({ length: subs }, () => subscribeLoad(c.client, topic, spec.messages, abort.signal)),
  );
  if (subs > 0) await new Promise((r) => setTimeout(r, 500)); // the subscriptions are open
  const progress = (label: string) => (n: number) =>
    console.log(`  ${label} ${n}/${spec.messages} acknowledged`);
  const results: Record<string, LoadResult> = {};
  if (mode !== "library") {
    console.log(
      `  raw client at ${raw.target.endpoint} (${leaderId ?? "?"}, partition 0's leader; the topic has ${partitions} partitions)`,
    );
    results.raw = await rawLoad(raw, { ...spec, progress: progress("raw") });
    console.log(report("raw generated client", results.raw, spec.size));
  }
  if (mode !== "raw") {
    results.library = await libraryLoad(c.client, { ...spec, progress: progress("library") });
    console.log(report("geobroker/client", results.library, spec.size));
  }
  if (results.raw && results.library) {
    const perMsg = (r: LoadResult) => r.cpuMicros / Math.max(r.acked, 1);
    const wall = (r: LoadResult) => (r.seconds * 1e6) / Math.max(r.acked, 1);
    console.log(
      `client overhead: ${(perMsg(results.library) - perMsg(results.raw)).toFixed(1)} us CPU/msg, ` +
        `${(wall(results.library) - wall(results.raw)).toFixed(1)} us wall/msg (library minus raw)`,
    );
  }
  for (const [i, s] of subscribers.entries()) {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000).unref());
    const got = await Promise.race([s.done, timeout]);
    if (!got) console.log(`subscriber ${i}: did not receive every message within 30 s`);
    else
      console.log(
        `subscriber ${i}: ${got.latency.count} messages, ${rate(got.latency.count, got.seconds)}\n  end-to-end latency ${got.latency.summary()}`,
      );
  }
  abort.abort();
  const failed = Object.values(results).some((r) => r.errors > 0);
  return failed ? 1 : 0;
}

export const benchCommand = clientCommand({
  name: "bench",
  summary: "publish (and subscribe) load with progress and an HDR latency summary",
  usage: `geobroker bench TOPIC [--msgs N] [--size B] [--in-flight N] [--sub N] [--linger MS] [--client library|raw|both]

  --msgs N        messages to publish (default 10000)
  --size B        body bytes (default 128)
  --in-flight N   unacknowledged publishes at most (default 1000)
  --sub N         subscribers reading the same messages, with end-to-end latency (default 0)
  --linger MS     the producer's linger (default: the library's)
  --client        library (default), raw (the bare generated client at one node), or both one
                  after the other, printing the library's overhead per message`,
  options: {
    msgs: { type: "string" },
    size: { type: "string" },
    "in-flight": { type: "string" },
    sub: { type: "string" },
    linger: { type: "string" },
    client: { type: "string", default: "library" },
  },
  async run(c, values, positionals) {
    const [topic] = positionals;
    if (!topic) throw new UsageError("name a topic");
    return runBench(c, values, topic);
  },
});
