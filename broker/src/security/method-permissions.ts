import type { Action } from "./authorization.js";

// What each RPC needs, as a pure function of the method and its request message. A method missing
// from the table needs cluster administration: new methods are denied until someone decides. So every
// geobroker.v1.ClusterService method except GetClusterInfo, present or added later, needs admin on *.

/** Allowed when any one of the actions is granted on the topic (no topic: cluster administration). */
export interface Requirement {
  anyOf: Action[];
  topic?: string;
}

type Message = Record<string, unknown> | undefined;
type Rule = (message: Message) => Requirement[];

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const field = (m: Message, name: string): Message => m?.[name] as Message;
const on = (action: Action, topic: unknown): Requirement[] => [{ anyOf: [action], topic: str(topic) }];
const none: Rule = () => [];
const clusterAdmin: Rule = () => [{ anyOf: ["admin"] }];

const table: Record<string, Rule> = {
  "broker.Broker/Publish": (m) => on("publish", m?.topic),
  "broker.Broker/Subscribe": (m) =>
    Object.keys((m?.topics as Record<string, unknown>) ?? {}).map((topic) => ({
      anyOf: ["subscribe"],
      topic,
    })),

  "geobroker.v1.PublishService/Publish": (m) => on("publish", m?.topic),
  // Checked per message of the stream.
  "geobroker.v1.PublishService/PublishStream": (m) => on("publish", field(m, "request")?.topic),

  "geobroker.v1.ConsumeService/Subscribe": (m) => on("subscribe", m?.topic),
  // Only the first message (`start`) names a topic; credit/ack/nack refer to what start opened.
  "geobroker.v1.ConsumeService/Consume": (m) => {
    const request = field(m, "request");
    return request?.case === "start" ? on("subscribe", field(request, "value")?.topic) : [];
  },
  "geobroker.v1.ConsumeService/CreateConsumer": (m) => on("subscribe", field(m, "config")?.topic),
  "geobroker.v1.ConsumeService/DeleteConsumer": (m) => on("subscribe", m?.topic),
  "geobroker.v1.ConsumeService/GetConsumer": (m) => on("subscribe", m?.topic),
  "geobroker.v1.ConsumeService/ListConsumers": (m) => on("subscribe", m?.topic),

  "geobroker.v1.TopicService/CreateTopic": (m) => on("admin", field(m, "topic")?.name),
  "geobroker.v1.TopicService/DeleteTopic": (m) => on("admin", m?.name),
  "geobroker.v1.TopicService/UpdateTopic": (m) => on("admin", m?.name),
  "geobroker.v1.TopicService/GetTopic": (m) => [
    { anyOf: ["publish", "subscribe", "admin"], topic: str(m?.name) },
  ],
  // Any authenticated caller may list; which names it sees is not a secret worth a round trip here.
  "geobroker.v1.TopicService/ListTopics": none,

  "geobroker.v1.ClusterService/GetClusterInfo": none,
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
  return requirement.anyOf.length === 1 && requirement.anyOf[0] === "admin";
}
