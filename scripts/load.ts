// A small load script: publish at a fixed rate in one region, subscribe in another, and report
// throughput with publish->ack and publish->deliver latency percentiles.
//   node dist/scripts/load.js --rate 1000 --seconds 10 --pub-region eu --sub-region ap [--size 256]
// Reads the local cluster's .geobroker/local/cluster.json (npm start). The real side-by-side
// benchmark is `npm run bench`; this is a quick check.
import { parseArgs } from "node:util";
import { resolveTarget } from "../broker/src/cli/target.js";
import { connectClients } from "../broker/src/client/connect.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
    size: { type: "string", default: "256" },
    "pub-region": { type: "string", default: "eu" },
    "sub-region": { type: "string", default: "ap" },
    topic: { type: "string", default: `load-${Date.now()}` },
    "cluster-file": { type: "string" },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const size = Math.max(8, Number(values.size));
const topic = String(values.topic);
const clusterFile = values["cluster-file"] ? { clusterFile: String(values["cluster-file"]) } : {};
const pub = connectClients(resolveTarget({ region: String(values["pub-region"]), ...clusterFile }));
const sub = connectClients(resolveTarget({ region: String(values["sub-region"]), ...clusterFile }));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};

await pub.topics.createTopic({ topic: { name: topic } }).catch((err: { code?: number }) => {
  if (err.code !== 6) throw err; // ALREADY_EXISTS: reuse the topic
});
const total = Math.round(rate * seconds);
const ack: number[] = [];
const deliver: number[] = [];
let errors = 0;
const errorKinds = new Map<string, number>();
const abort = new AbortController();
const delivered = (async () => {
  for await (const r of sub.consume.subscribe(
    { topic, start: { position: { case: "earliest", value: true } } },
    { signal: abort.signal },
  )) {
    const body = r.message!.body;
    const sentAt = new DataView(body.buffer, body.byteOffset, 8).getFloat64(0);
    deliver.push(performance.timeOrigin + performance.now() - sentAt);
    if (deliver.length === total) return;
  }
})().catch(() => {});
await new Promise((r) => setTimeout(r, 300));
const started = performance.now();
const inflight: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  const body = new Uint8Array(size);
  const sentAt = performance.timeOrigin + performance.now();
  new DataView(body.buffer).setFloat64(0, sentAt);
  inflight.push(
    pub.publish.publish({ topic, body }).then(
      () => void ack.push(performance.timeOrigin + performance.now() - sentAt),
      (err: { rawMessage?: string; message?: string }) => {
        errors++;
        const kind = (err.rawMessage ?? err.message ?? String(err)).slice(0, 80);
        errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
      },
    ),
  );
}
await Promise.all(inflight);
const elapsed = (performance.now() - started) / 1000;
await Promise.race([delivered, new Promise((r) => setTimeout(r, 10_000))]);
abort.abort();
console.log(
  `offered ${rate} msg/s for ${seconds} s (${size} B, publish in ${values["pub-region"]}, subscribe in ${values["sub-region"]}): ` +
    `acked ${ack.length} (${Math.round(ack.length / elapsed)} msg/s), delivered ${deliver.length}, errors ${errors}\n` +
    `  publish->ack     p50 ${pct(ack, 0.5).toFixed(1)} ms  p99 ${pct(ack, 0.99).toFixed(1)} ms\n` +
    `  publish->deliver p50 ${pct(deliver, 0.5).toFixed(1)} ms  p99 ${pct(deliver, 0.99).toFixed(1)} ms` +
    [...errorKinds].map(([k, n]) => `\n  error x${n}: ${k}`).join(""),
);
process.exit(0);
