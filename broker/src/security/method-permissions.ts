import { deadLetterTopicFor } from "../engine/engine.js";
import type { Action } from "./authorization.js";

// What each RPC needs, as a pure function of the method and its request message. A method missing
// from the table needs cluster administration: new methods are denied until someone decides. So every
// geobroker.v1.ClusterService method except GetClusterInfo and GetClusterMetrics, present or added later, needs admin on *.

/**
 * Allowed when any one of the actions is granted on the topic (no topic: cluster administration);
 * `consume` also names the consumer.
 */
export interface Requirement {
  anyOf: Action[];
  topic?: string;
  consumer?: string;
}

type Message = Record<string, unknown> | undefined;
type Rule = (message: Message) => Requirement[];

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const field = (m: Message, name: string): Message => m?.[name] as Message;
const on = (action: Action, topic: unknown): Requirement[] => [{ anyOf: [action], topic: str(topic) }];
/** The action on every distinct topic of a list of publish requests (a batch). */
const onEachTopic = (action: Action, messages: unknown): Requirement[] =>
  Array.isArray(messages)
    ? [...new Set(messages.map((x) => str((x as Message)?.topic)))].flatMap((topic) => on(action, topic))
    : [];
const none: Rule = () => [];
const clusterAdmin: Rule = () => [{ anyOf: ["admin"] }];

/** A durable consumer's name on its topic: read the topic, and be allowed that consumer. */
const asConsumer = (topic: unknown, name: unknown): Requirement[] => [
  ...on("subscribe", topic),
  { anyOf: ["consume"], topic: str(topic), consumer: str(name) },
];

/**
 * Starting or creating a consumer: besides the consumer itself, the dead-letter topic it will publish
 * to (explicit, or the default `<topic>.dlq` when max_deliveries is set) needs publish.
 */
const consumerConfig = (config: Message): Requirement[] => {
  const dlq = deadLetterTopicFor(
    str(config?.topic),
    str(config?.deadLetterTopic),
    Number(config?.maxDeliveries ?? 0),
  );
  return [...asConsumer(config?.topic, config?.name), ...(dlq ? on("publish", dlq) : [])];
};

const table: Record<string, Rule> = {
  "broker.Broker/Publish": (m) => on("publish", m?.topic),
  "broker.Broker/Subscribe": (m) =>
    Object.keys((m?.topics as Record<string, unknown>) ?? {}).map((topic) => ({
      anyOf: ["subscribe"],
      topic,
    })),

  "geobroker.v1.PublishService/Publish": (m) => on("publish", m?.topic),
  // Checked per message of the stream; a batch frame needs publish on every topic it names.
  "geobroker.v1.PublishService/PublishStream": (m) => [
    ...(field(m, "request") ? on("publish", field(m, "request")?.topic) : []),
    ...onEachTopic("publish", m?.batch),
  ],
  // Every topic of the batch, each once: one topic refused refuses the call (as for a single publish).
  "geobroker.v1.PublishService/PublishBatch": (m) => onEachTopic("publish", m?.messages),

  "geobroker.v1.ConsumeService/Subscribe": (m) => on("subscribe", m?.topic),
  // Only the first message (`start`) names a consumer; credit/ack/nack refer to what start opened.
  "geobroker.v1.ConsumeService/Consume": (m) => {
    const request = field(m, "request");
    return request?.case === "start" ? consumerConfig(field(request, "value")) : [];
  },
  "geobroker.v1.ConsumeService/CreateConsumer": (m) => consumerConfig(field(m, "config")),
  "geobroker.v1.ConsumeService/DeleteConsumer": (m) => asConsumer(m?.topic, m?.name),
  "geobroker.v1.ConsumeService/GetConsumer": (m) => asConsumer(m?.topic, m?.name),
  "geobroker.v1.ConsumeService/ListConsumers": (m) => on("subscribe", m?.topic),

  // `create` alone may make a topic (as a publish's auto-create may); admin may as well.
  "geobroker.v1.TopicService/CreateTopic": (m) => [
    { anyOf: ["create", "admin"], topic: str(field(m, "topic")?.name) },
  ],
  "geobroker.v1.TopicService/DeleteTopic": (m) => on("admin", m?.name),
  "geobroker.v1.TopicService/UpdateTopic": (m) => on("admin", m?.name),
  "geobroker.v1.TopicService/GetTopic": (m) => [
    { anyOf: ["publish", "subscribe", "admin"], topic: str(m?.name) },
  ],
  // Any authenticated caller may list; which names it sees is not a secret worth a round trip here.
  "geobroker.v1.TopicService/ListTopics": none,

  "geobroker.v1.ClusterService/GetClusterInfo": none,
  // Cluster-wide totals per node, naming no topic: as visible as the cluster's shape.
  "geobroker.v1.ClusterService/GetClusterMetrics": none,
  "geobroker.v1.ClusterService/AddNode": clusterAdmin,
  "geobroker.v1.ClusterService/PromoteNode": clusterAdmin,
  "geobroker.v1.ClusterService/DrainNode": clusterAdmin,
  "geobroker.v1.ClusterService/RemoveNode": clusterAdmin,
  "geobroker.v1.ClusterService/TransferLeadership": clusterAdmin,
};

/** The permissions a call needs: `service` is the full type name, e.g. `geobroker.v1.TopicService`. */
export function requirementsFor(service: string, method: string, message: unknown): Requirement[] {
  const rule = table[`${service}/${method}`] ?? clusterAdmin;
  return rule(message as Message);
}

/** True for an admin requirement: such calls are audited when allowed, not only when denied. */
export function isAdminAction(requirement: Requirement): boolean {
  return (
    requirement.anyOf.includes("admin") && requirement.anyOf.every((a) => a === "admin" || a === "create")
  );
}
