import { libraryLoad, report } from "./bench.js";
import { clientCommand, UsageError } from "./client-command.js";
import { readStdin } from "./read-stdin.js";
import { wholeNumber } from "./start-flag.js";

export const pubCommand = clientCommand({
  name: "pub",
  summary: "publish messages to a topic",
  usage: `geobroker pub TOPIC [MESSAGE...] [--key K] [--header k=v ...] [--stdin] [--count N --size BYTES]

  MESSAGE...      each argument is one message
  --stdin         one message per line of standard input
  --key K         partition key (messages with one key keep their order)
  --header k=v    a header, repeatable
  --count N       a quick load: N messages of --size bytes (default 256), pipelined; prints msg/s and
                  ack latency (geobroker bench has more)`,
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
    const key = values.key ? String(values.key) : undefined;
    if (values.count !== undefined) {
      const size = wholeNumber(values, "size", 256, 0, 16 * 1024 * 1024);
      const r = await libraryLoad(c.client, {
        topic,
        messages: wholeNumber(values, "count", 1, 1, 100_000_000),
        size,
        inFlight: 1000,
        headers,
        ...(key ? { key: new TextEncoder().encode(key) } : {}),
        progress: (n) => console.log(`  ${n} acknowledged`),
      });
      console.log(report(`${topic}`, r, size));
      return r.errors > 0 ? 1 : 0;
    }
    if (values.stdin) messages.push(...(await readStdin()).split("\n").filter(Boolean));
    if (messages.length === 0) throw new UsageError("give a message, --stdin or --count");
    for (const text of messages) {
      const started = performance.now();
      const res = await c.client.publish({ topic, body: text, headers, ...(key ? { key } : {}) });
      console.log(
        `${res.id}  (${(performance.now() - started).toFixed(1)} ms, served by ${res.servedBy?.nodeId} in ${res.servedBy?.region})`,
      );
    }
    await c.client.close();
    return 0;
  },
});
