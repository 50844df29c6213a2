import { clientCommand, UsageError } from "./client-command.js";
import { printMessage } from "./print-message.js";
import { startFrom } from "./start-flag.js";

export const subCommand = clientCommand({
  name: "sub",
  summary: "subscribe to a topic and print its messages",
  usage: `geobroker sub TOPIC [--from earliest|latest|offset:N|time:ISO] [--count N] [--json] [--compat]

  --from     where to start (default latest); after a reconnect it resumes after the last message
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
    const start = startFrom(String(values.from));
    const json = values.json === true;
    let seen = 0;
    try {
      if (values.compat) {
        const startMicros =
          typeof start === "object" && "time" in start ? BigInt(start.time.getTime()) * 1000n : 0n;
        for await (const m of c.raw.broker.subscribe(
          { topics: { [topic]: startMicros } },
          { signal: abort.signal },
        )) {
          console.log(
            json
              ? JSON.stringify({ id: m.id, topic: m.topic, body: new TextDecoder().decode(m.body) })
              : `${m.id}  ${new TextDecoder().decode(m.body)}`,
          );
          if (++seen >= limit) break;
        }
      } else {
        for await (const m of c.client.subscribe({ topic, start, signal: abort.signal })) {
          printMessage(m, json);
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
