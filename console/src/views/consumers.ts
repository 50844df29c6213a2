import type { ConsumerInfo } from "../../../gen/geobroker/v1/consume_pb.js";
import type { Topic } from "../../../gen/geobroker/v1/topic_pb.js";
import { field, h, notice, showError, table } from "../dom.js";
import { consumerLag, totalLag } from "../model/consumers.js";
import type { Session, View } from "../session.js";
import { deleteButton, type ListSlots, listView } from "./list-view.js";

/** Pending and lag move with every ack: the list is asked again this often. */
export const consumersRefreshMs = 3000;

function lagCell(c: ConsumerInfo, topics: Map<string, Topic>): HTMLElement {
  const topic = topics.get(c.config?.topic ?? "");
  if (!topic) return h("span", {}, "topic not visible");
  const lags = consumerLag(c.ackFloor, topic.partitionInfo);
  return h(
    "div",
    {},
    h("strong", {}, `${totalLag(lags)} total`),
    h(
      "ul",
      { class: "lags" },
      lags.map((l) =>
        h("li", {}, `p${l.partition}: ${l.lag} (acked below ${l.ackFloor}, end ${l.nextOffset})`),
      ),
    ),
  );
}

function createForm(session: Session, status: HTMLElement, refresh: () => void): HTMLElement {
  const form = h(
    "form",
    { class: "create", "aria-labelledby": "create-consumer" },
    h("h2", { id: "create-consumer" }, "Create a durable consumer"),
    field("Topic", h("input", { name: "topic", required: true })),
    field("Name", h("input", { name: "name", required: true, maxlength: 249 })),
    field(
      "Start",
      h(
        "select",
        { name: "start" },
        h("option", { value: "earliest" }, "earliest retained"),
        h("option", { value: "latest" }, "new messages only"),
      ),
    ),
    field(
      "Ack timeout (ms)",
      h("input", { name: "ackTimeoutMs", inputmode: "numeric", placeholder: "cluster default" }),
    ),
    field(
      "Max deliveries",
      h("input", { name: "maxDeliveries", inputmode: "numeric", placeholder: "unlimited" }),
      "then the message goes to the dead-letter topic",
    ),
    field("Dead-letter topic", h("input", { name: "deadLetterTopic", placeholder: "<topic>.dlq" })),
    h("button", { type: "submit" }, "Create consumer"),
  );
  const whole = (v: FormDataEntryValue | null, label: string) => {
    const s = String(v ?? "").trim();
    if (s === "") return 0;
    if (!/^\d+$/.test(s))
      throw Object.assign(new Error(`${label}: a whole number of 0 or more`), { code: 3 });
    return Number(s);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    try {
      const c = await session.client.admin.createConsumer({
        topic: String(d.get("topic")).trim(),
        name: String(d.get("name")).trim(),
        start: d.get("start") === "latest" ? "latest" : "earliest",
        ackTimeoutMs: whole(d.get("ackTimeoutMs"), "Ack timeout"),
        maxDeliveries: whole(d.get("maxDeliveries"), "Max deliveries"),
        deadLetterTopic: String(d.get("deadLetterTopic")).trim(),
      });
      notice(status, `Created consumer ${c?.config?.name} on ${c?.config?.topic}.`);
      form.reset();
      refresh();
    } catch (err) {
      showError(status, err, "The consumer was not created");
    }
  });
  return form;
}

export const consumersView: View = {
  title: "Consumers",
  open(root, session) {
    const row = (c: ConsumerInfo, topics: Map<string, Topic>, slots: ListSlots) => {
      const topic = c.config?.topic ?? "";
      const name = c.config?.name ?? "";
      return [
        h("strong", {}, name),
        topic,
        String(c.pending),
        String(c.redelivered),
        String(c.deadLettered),
        lagCell(c, topics),
        deleteButton(slots, {
          label: `Delete consumer ${name} of ${topic}`,
          confirmTitle: `Delete consumer ${name}?`,
          confirmText: `Its position on ${topic} is forgotten; a new consumer by that name starts over.`,
          confirmLabel: "Delete consumer",
          done: `Deleted consumer ${name} of ${topic}.`,
          failure: `Consumer ${name} was not deleted`,
          action: () => session.client.admin.deleteConsumer(topic, name),
        }),
      ];
    };
    return listView(root, {
      everyMs: consumersRefreshMs,
      failure: "The consumers could not be loaded",
      form: (slots) => createForm(session, slots.status, slots.refresh),
      load: async (slots) => {
        const [consumers, topics] = await Promise.all([
          session.client.admin.listConsumers(),
          session.client.admin.listTopics(),
        ]);
        const byName = new Map(topics.map((t) => [t.name, t]));
        return table(
          "Durable consumers",
          ["name", "topic", "pending", "redelivered", "dead-lettered", "lag per partition", ""],
          consumers.map((c) => row(c, byName, slots)),
          { class: "consumers" },
        );
      },
    });
  },
};
