import type { Topic } from "../../../gen/geobroker/v1/topic_pb.js";
import { clientCommand, UsageError } from "./client-command.js";

function duration(text: string): bigint {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new UsageError(`"${text}" is not a duration like 30s, 15m, 12h or 7d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms"]!;
  return BigInt(Number(m[1]) * unit);
}

function describe(t: Topic): string {
  const r = t.retention;
  const retention = r
    ? `retention age ${r.maxAgeMs === 0n ? "-" : `${r.maxAgeMs / 1000n}s`} bytes ${r.maxBytes === 0n ? "-" : r.maxBytes} messages ${r.maxMessages === 0n ? "-" : r.maxMessages}`
    : "";
  const lines = [
    `${t.name}  partitions ${t.partitions}  replicas ${t.replicationFactor}  home ${t.homeRegion || "-"}  ${retention}`,
  ];
  for (const p of t.partitionInfo) {
    lines.push(
      `  partition ${p.partition}: leader ${p.leaderNodeId || "?"} (${p.leaderRegion || "?"}) replicas ${p.replicaNodeIds.join(",")} offsets ${p.firstOffset}..${p.nextOffset} ${p.retainedBytes} B`,
    );
  }
  return lines.join("\n");
}

export const topicsCommand = clientCommand({
  name: "topics",
  summary: "list, describe, create, update and delete topics",
  usage: `geobroker topics list [--prefix P]
geobroker topics get NAME
geobroker topics create NAME [--partitions N] [--replication N] [--home-region R] [--max-age 7d] [--max-bytes N] [--max-messages N]
geobroker topics update NAME [--max-age 7d] [--max-bytes N] [--max-messages N] [--home-region R]
geobroker topics delete NAME`,
  options: {
    prefix: { type: "string", default: "" },
    partitions: { type: "string" },
    replication: { type: "string" },
    "home-region": { type: "string" },
    "max-age": { type: "string" },
    "max-bytes": { type: "string" },
    "max-messages": { type: "string" },
  },
  async run(c, values, positionals) {
    const [verb, name] = positionals;
    const count = (flag: string): number => {
      const v = values[flag];
      if (v === undefined) return 0;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${flag} takes a whole number`);
      return n;
    };
    const retention = () => ({
      maxAgeMs: values["max-age"] ? duration(String(values["max-age"])) : 0n,
      maxBytes: BigInt(count("max-bytes")),
      maxMessages: BigInt(count("max-messages")),
      keepUnacknowledged: true,
    });
    const needName = () => {
      if (!name) throw new UsageError(`topics ${verb} needs a topic name`);
      return name;
    };
    switch (verb) {
      case "list":
      case undefined: {
        const res = await c.raw.topics.listTopics({ prefix: String(values.prefix) });
        if (res.topics.length === 0) console.log("no topics");
        for (const t of res.topics) console.log(describe(t));
        return 0;
      }
      case "get":
        console.log(describe((await c.raw.topics.getTopic({ name: needName() })).topic!));
        return 0;
      case "create": {
        const res = await c.raw.topics.createTopic({
          topic: {
            name: needName(),
            partitions: count("partitions"),
            replicationFactor: count("replication"),
            homeRegion: String(values["home-region"] ?? ""),
            retention: retention(),
          },
        });
        console.log(`created ${describe(res.topic!)}`);
        return 0;
      }
      case "update": {
        const res = await c.raw.topics.updateTopic({
          name: needName(),
          retention: retention(),
          ...(values["home-region"] !== undefined ? { homeRegion: String(values["home-region"]) } : {}),
        });
        console.log(`updated ${describe(res.topic!)}`);
        return 0;
      }
      case "delete":
        await c.raw.topics.deleteTopic({ name: needName() });
        console.log(`deleted ${name}`);
        return 0;
      default:
        throw new UsageError(`unknown topics command "${verb}"`);
    }
  },
});
