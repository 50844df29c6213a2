import type { ConsumerInfo } from "../../../gen/geobroker/v1/consume_pb.js";
import { clientCommand, UsageError } from "./client-command.js";
import { startFrom, wholeNumber } from "./start-flag.js";

function describe(i: ConsumerInfo): string {
  const c = i.config;
  const floors = Object.entries(i.ackFloor)
    .map(([p, f]) => `${p}:${f}`)
    .join(" ");
  return (
    `${c?.topic}/${c?.name}  pending ${i.pending}  redelivered ${i.redelivered}  dead-lettered ${i.deadLettered}` +
    `  ack timeout ${c?.ackTimeoutMs || "default"} ms  max deliveries ${c?.maxDeliveries || "-"}` +
    `${c?.deadLetterTopic ? `  dead letters to ${c.deadLetterTopic}` : ""}  acked below ${floors || "-"}`
  );
}

export const consumersCommand = clientCommand({
  name: "consumers",
  summary: "list, create, describe and delete durable consumers",
  usage: `geobroker consumers list [TOPIC]
geobroker consumers create TOPIC NAME [--from earliest|latest|offset:N|time:ISO] [--ack-timeout MS] [--max-deliveries N] [--dead-letter TOPIC]
geobroker consumers describe TOPIC NAME
geobroker consumers delete TOPIC NAME`,
  options: {
    from: { type: "string", default: "earliest" },
    "ack-timeout": { type: "string" },
    "max-deliveries": { type: "string" },
    "dead-letter": { type: "string" },
    json: { type: "boolean", default: false },
  },
  async run(c, values, positionals) {
    const [verb, topic, name] = positionals;
    const print = (i: ConsumerInfo | undefined) => {
      if (!i) return;
      console.log(
        values.json ? JSON.stringify(i, (_, v) => (typeof v === "bigint" ? Number(v) : v)) : describe(i),
      );
    };
    const need = () => {
      if (!topic || !name) throw new UsageError(`consumers ${verb} needs a topic and a consumer name`);
      return { topic, name };
    };
    switch (verb) {
      case "list":
      case undefined: {
        const all = await c.client.admin.listConsumers(topic ?? "");
        if (all.length === 0) console.log("no consumers");
        for (const i of all) print(i);
        return 0;
      }
      case "create": {
        const { topic: t, name: n } = need();
        print(
          await c.client.admin.createConsumer({
            topic: t,
            name: n,
            start: startFrom(String(values.from)),
            ackTimeoutMs: wholeNumber(values, "ack-timeout", 0, 0, 86_400_000),
            maxDeliveries: wholeNumber(values, "max-deliveries", 0, 0, 1_000_000),
            deadLetterTopic: String(values["dead-letter"] ?? ""),
          }),
        );
        return 0;
      }
      case "describe":
      case "get": {
        const { topic: t, name: n } = need();
        print(await c.client.admin.getConsumer(t, n));
        return 0;
      }
      case "delete": {
        const { topic: t, name: n } = need();
        await c.client.admin.deleteConsumer(t, n);
        console.log(`deleted ${t}/${n}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown consumers command "${verb}"`);
    }
  },
});
