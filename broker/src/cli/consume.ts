import { clientCommand, UsageError } from "./client-command.js";
import { printMessage } from "./print-message.js";
import { startFrom, wholeNumber } from "./start-flag.js";

export const consumeCommand = clientCommand({
  name: "consume",
  summary: "read a topic through a durable consumer, acknowledging what it prints",
  usage: `geobroker consume TOPIC NAME [--from earliest|latest|offset:N|time:ISO] [--count N] [--json]
                  [--no-ack] [--nack-delay MS] [--max-ack-pending N] [--ack-timeout MS]
                  [--max-deliveries N] [--dead-letter TOPIC]

  NAME                 the consumer (created on first use; sessions with one name share its messages)
  --from               where a new consumer starts (default earliest; ignored once it exists)
  --count N            stop after N messages (default: until Ctrl-C)
  --json               one JSON object per line, with the delivery count
  --no-ack             nack each message instead (it is delivered again, after --nack-delay)
  --nack-delay MS      redelivery delay of --no-ack (default 0)
  --max-ack-pending N  credit: messages held unacknowledged at most (default 256)
  --ack-timeout MS     redeliver what is not acked within this (new consumer; default: the cluster's)
  --max-deliveries N   dead-letter after N deliveries (new consumer; default unlimited)
  --dead-letter TOPIC  where dead letters go (default TOPIC.dlq)`,
  options: {
    from: { type: "string", default: "earliest" },
    count: { type: "string" },
    json: { type: "boolean", default: false },
    "no-ack": { type: "boolean", default: false },
    "nack-delay": { type: "string" },
    "max-ack-pending": { type: "string" },
    "ack-timeout": { type: "string" },
    "max-deliveries": { type: "string" },
    "dead-letter": { type: "string" },
  },
  async run(c, values, positionals) {
    const [topic, name] = positionals;
    if (!topic || !name) throw new UsageError("name a topic and a consumer");
    const limit = wholeNumber(values, "count", Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER);
    const nackDelay = wholeNumber(values, "nack-delay", 0, 0, 86_400_000);
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    const consumer = c.client.consumer({
      topic,
      name,
      start: startFrom(String(values.from)),
      maxAckPending: wholeNumber(values, "max-ack-pending", 256, 1, 1_000_000),
      ackTimeoutMs: wholeNumber(values, "ack-timeout", 0, 0, 86_400_000),
      maxDeliveries: wholeNumber(values, "max-deliveries", 0, 0, 1_000_000),
      ...(values["dead-letter"] ? { deadLetterTopic: String(values["dead-letter"]) } : {}),
      signal: abort.signal,
    });
    let seen = 0;
    try {
      for await (const m of consumer) {
        printMessage(m, values.json === true, { deliveryCount: m.deliveryCount });
        if (values["no-ack"]) m.nack({ delayMs: nackDelay });
        else m.ack();
        if (++seen >= limit) break;
      }
    } catch (err) {
      if (abort.signal.aborted) return 0;
      throw err;
    }
    // Sends the last acks before the process exits.
    await consumer.close();
    return 0;
  },
});
