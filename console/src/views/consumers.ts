import type { ConsumerInfo } from "../../../gen/geobroker/v1/consume_pb.js";
import type { Topic } from "../../../gen/geobroker/v1/topic_pb.js";
import { confirmDialog, field, h, notice, showError, table } from "../dom.js";
import { consumerLag, totalLag } from "../model/consumers.js";
import { every, type Session, type View } from "../session.js";

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
    const status = h("div", { "aria-live": "polite" });
    const listErrors = h("div");
    const list = h("div", { "aria-busy": "true" }, "loading...");
    let refresh = () => {};
    root.append(
      createForm(session, status, () => refresh()),
      status,
      listErrors,
      list,
    );
    const load = async () => {
      try {
        const [consumers, topics] = await Promise.all([
          session.client.admin.listConsumers(),
          session.client.admin.listTopics(),
        ]);
        const byName = new Map(topics.map((t) => [t.name, t]));
        const rows = consumers.map((c) => {
          const topic = c.config?.topic ?? "";
          const name = c.config?.name ?? "";
          const del = h(
            "button",
            { type: "button", class: "danger", "aria-label": `Delete consumer ${name} of ${topic}` },
            "Delete",
          );
          del.addEventListener("click", async () => {
            if (
              !(await confirmDialog(
                `Delete consumer ${name}?`,
                `Its position on ${topic} is forgotten; a new consumer by that name starts over.`,
                "Delete consumer",
              ))
            )
              return;
            try {
              await session.client.admin.deleteConsumer(topic, name);
              notice(status, `Deleted consumer ${name} of ${topic}.`);
              refresh();
            } catch (err) {
              showError(status, err, `Consumer ${name} was not deleted`);
            }
          });
          return [
            h("strong", {}, name),
            topic,
            String(c.pending),
            String(c.redelivered),
            String(c.deadLettered),
            lagCell(c, byName),
            del,
          ];
        });
        list.replaceChildren(
          table(
            "Durable consumers",
            ["name", "topic", "pending", "redelivered", "dead-lettered", "lag per partition", ""],
            rows,
            { class: "consumers" },
          ),
        );
        list.setAttribute("aria-busy", "false");
        showError(listErrors, undefined);
      } catch (err) {
        showError(listErrors, err, "The consumers could not be loaded");
      }
    };
    refresh = () => void load();
    return every(consumersRefreshMs, load);
  },
};
