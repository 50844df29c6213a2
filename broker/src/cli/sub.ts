import type { StartPosition } from "../../../gen/geobroker/v1/common_pb.js";
import { clientCommand, UsageError } from "./client-command.js";

const decoder = new TextDecoder();

function startFrom(spec: string): StartPosition["position"] {
  if (spec === "earliest") return { case: "earliest", value: true };
  if (spec === "latest") return { case: "latest", value: true };
  if (spec.startsWith("offset:")) {
    const n = Number(spec.slice(7));
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--from ${spec}: offset must be a whole number`);
    return { case: "offset", value: BigInt(n) };
  }
  if (spec.startsWith("time:")) {
    const ms = Date.parse(spec.slice(5));
    if (Number.isNaN(ms))
      throw new UsageError(`--from ${spec}: not a date (use ISO 8601, e.g. time:2026-11-24T10:00:00Z)`);
    return { case: "timestampMicros", value: BigInt(ms) * 1000n };
  }
  throw new UsageError(`--from ${spec}: use earliest, latest, offset:N or time:ISO`);
}

export const subCommand = clientCommand({
  name: "sub",
  summary: "subscribe to a topic and print its messages",
  usage: `geobroker sub TOPIC [--from earliest|latest|offset:N|time:ISO] [--count N] [--json] [--compat]

  --from     where to start (default latest)
  --count N  stop after N messages (default: until Ctrl-C)
  --json     one JSON object per line
  --compat   use the original broker.Broker API (starts from --from time:..., earliest otherwise)`,
  options: {
    from: { type: "string", default: "latest" },
    count: { type: "string" },
    json: { type: "boolean", default: false },
    compat: { type: "boolean", default: false },
  },
  async run(c, values, positionals) {
    const [topic] = positionals;
    if (!topic) throw new UsageError("name a topic");
    const limit = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
    if (!(limit > 0)) throw new UsageError("--count takes a positive number");
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    const position = startFrom(String(values.from));
    let seen = 0;
    const print = (m: {
      id: string;
      topic: string;
      timestampMicros: bigint;
      body: Uint8Array;
      key?: Uint8Array;
    }) => {
      const body = decoder.decode(m.body);
      if (values.json) {
        console.log(
          JSON.stringify({
            id: m.id,
            topic: m.topic,
            timestamp: new Date(Number(m.timestampMicros / 1000n)).toISOString(),
            body,
          }),
        );
      } else {
        console.log(`${m.id}  ${body}`);
      }
    };
    try {
      if (values.compat) {
        const startMicros = position?.case === "timestampMicros" ? position.value : 0n;
        for await (const m of c.broker.subscribe(
          { topics: { [topic]: startMicros } },
          { signal: abort.signal },
        )) {
          print({ id: m.id, topic: m.topic, timestampMicros: m.timestamp, body: m.body });
          if (++seen >= limit) break;
        }
      } else {
        for await (const r of c.consume.subscribe({ topic, start: { position } }, { signal: abort.signal })) {
          const m = r.message!;
          print({ id: m.id, topic: m.topic, timestampMicros: m.timestampMicros, body: m.body });
          if (++seen >= limit) break;
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return 0;
      throw err;
    }
    return 0;
  },
});
