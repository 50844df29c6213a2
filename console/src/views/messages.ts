import type { ReceivedMessage, StartAt, Subscription } from "geobroker/client/web";
import { field, h, notice, showError } from "../dom.js";
import { type BodyView, formatMicros, renderBody } from "../model/format.js";
import type { Session, View } from "../session.js";

/** Messages kept on screen; older ones scroll off (the page is a window, not a store). */
export const maxShownMessages = 500;

const text = new TextDecoder();

/** "k=v" lines as headers; a line without "=" is an error naming it. */
export function parseHeaders(lines: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    const i = line.indexOf("=");
    if (i <= 0) throw Object.assign(new Error(`header "${line}": write it as name=value`), { code: 3 });
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

function startFrom(data: FormData): StartAt {
  const from = String(data.get("from"));
  if (from === "offset") {
    const v = String(data.get("offset")).trim();
    if (!/^\d+$/.test(v)) throw Object.assign(new Error("Offset: a whole number of 0 or more"), { code: 3 });
    return { offset: BigInt(v) };
  }
  if (from === "time") {
    const t = new Date(String(data.get("time")));
    if (Number.isNaN(t.getTime())) throw Object.assign(new Error("Time: pick a date and time"), { code: 3 });
    return { time: t };
  }
  return from === "earliest" ? "earliest" : "latest";
}

function messageRow(m: ReceivedMessage, view: BodyView): HTMLElement {
  const body = renderBody(m.body, view);
  const headers = Object.entries(m.headers);
  return h(
    "li",
    { class: "message", "data-id": m.id },
    h(
      "div",
      { class: "meta" },
      h("strong", {}, m.id),
      ` ${formatMicros(m.timestampMicros)}`,
      m.key.length ? ` key ${text.decode(m.key)}` : "",
      m.servedBy ? ` served in ${m.servedBy.region} by ${m.servedBy.nodeId}` : "",
    ),
    headers.length ? h("div", { class: "headers" }, headers.map(([k, v]) => `${k}=${v}`).join("  ")) : null,
    body.note ? h("div", { class: "note" }, body.note) : null,
    h("pre", { class: "body" }, body.text),
  );
}

function tailForm(session: Session, root: HTMLElement): { form: HTMLElement; stop: () => void } {
  let sub: Subscription | undefined;
  const status = h("div", { "aria-live": "polite" });
  const list = h("ol", { class: "messages", "aria-label": "Messages received", reversed: true });
  const timeField = field(
    "Time",
    h("input", { name: "time", type: "datetime-local", step: "1" }),
    "your local time",
  );
  const offsetField = field("Offset", h("input", { name: "offset", inputmode: "numeric", value: "0" }));
  const form = h(
    "form",
    { class: "tail", "aria-labelledby": "tail-title" },
    h("h2", { id: "tail-title" }, "Read a topic"),
    field("Topic", h("input", { name: "topic", required: true })),
    field("Partition", h("input", { name: "partition", inputmode: "numeric", placeholder: "all" })),
    field(
      "From",
      h(
        "select",
        { name: "from" },
        h("option", { value: "latest" }, "now on (tail live)"),
        h("option", { value: "earliest" }, "the earliest retained"),
        h("option", { value: "offset" }, "an offset"),
        h("option", { value: "time" }, "a time"),
      ),
    ),
    offsetField,
    timeField,
    field(
      "Show bodies as",
      h(
        "select",
        { name: "view" },
        h("option", { value: "text" }, "text"),
        h("option", { value: "json" }, "JSON, pretty-printed"),
        h("option", { value: "hex" }, "hex"),
      ),
    ),
    h("button", { type: "submit" }, "Start reading"),
    h("button", { type: "button", name: "stop", onclick: () => stop() }, "Stop"),
  );
  const stop = () => {
    if (sub) notice(status, "Stopped.");
    sub?.close();
    sub = undefined;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    stop();
    const data = new FormData(form);
    try {
      const topic = String(data.get("topic")).trim();
      const partition = String(data.get("partition")).trim();
      if (partition !== "" && !/^\d+$/.test(partition))
        throw Object.assign(new Error("Partition: a partition number, or empty for all"), { code: 3 });
      const view = String(data.get("view")) as BodyView;
      const s = session.client.subscribe({
        topic,
        start: startFrom(data),
        ...(partition !== "" ? { partitions: [Number(partition)] } : {}),
      });
      sub = s;
      list.replaceChildren();
      notice(status, `Reading ${topic}...`);
      for await (const m of s) {
        list.prepend(messageRow(m, view));
        while (list.children.length > maxShownMessages) list.lastElementChild?.remove();
      }
    } catch (err) {
      showError(status, err, "Reading stopped");
    }
  });
  root.append(form, status, list);
  return { form, stop };
}

function publishForm(session: Session): HTMLElement {
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "publish", "aria-labelledby": "publish-title" },
    h("h2", { id: "publish-title" }, "Publish a test message"),
    field("Topic", h("input", { name: "topic", required: true })),
    field("Key", h("input", { name: "key" }), "messages with one key go to one partition, in order"),
    field("Headers", h("textarea", { name: "headers", rows: 2 }), "one name=value per line"),
    field("Body", h("textarea", { name: "body", rows: 4 })),
    h("button", { type: "submit" }, "Publish"),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      const key = String(data.get("key"));
      const r = await session.client.publish({
        topic: String(data.get("topic")).trim(),
        body: String(data.get("body")),
        headers: parseHeaders(String(data.get("headers"))),
        ...(key ? { key } : {}),
      });
      notice(
        status,
        `Published ${r.id}${r.servedBy ? ` (committed, answered in ${r.servedBy.region} by ${r.servedBy.nodeId})` : ""}.`,
      );
    } catch (err) {
      showError(status, err, "The message was not published");
    }
  });
  return form;
}

export const messagesView: View = {
  title: "Messages",
  open(root, session) {
    const columns = h("div", { class: "columns" });
    const left = h("div");
    const { stop } = tailForm(session, left);
    columns.append(left, publishForm(session));
    root.append(columns);
    return stop;
  },
};
