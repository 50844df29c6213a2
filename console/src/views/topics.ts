import type { Topic } from "../../../gen/geobroker/v1/topic_pb.js";
import { field, h, notice, showError, table } from "../dom.js";
import { formatBytes, formatMicros } from "../model/format.js";
import type { Session, View } from "../session.js";
import { deleteButton, type ListSlots, listView } from "./list-view.js";

/** The list refreshes this often (offsets and sizes move while messages flow). */
export const topicsRefreshMs = 5000;

const input = (name: string, attrs: Record<string, string> = {}) => h("input", { name, ...attrs });

/** "" -> 0n (no limit); a non-negative integer otherwise, or an error naming the field. */
function nonNegative(value: string, label: string): bigint {
  const v = value.trim();
  if (v === "") return 0n;
  if (!/^\d+$/.test(v)) throw Object.assign(new Error(`${label}: a whole number of 0 or more`), { code: 3 });
  return BigInt(v);
}

function retentionText(t: Topic): string {
  const r = t.retention;
  if (!r || (r.maxAgeMs === 0n && r.maxBytes === 0n && r.maxMessages === 0n)) return "unlimited";
  return [
    r.maxAgeMs ? `age ${Number(r.maxAgeMs) / 1000} s` : "",
    r.maxBytes ? `size ${formatBytes(r.maxBytes)}` : "",
    r.maxMessages ? `${r.maxMessages} messages` : "",
    r.keepUnacknowledged ? "keeps unacked" : "",
  ]
    .filter(Boolean)
    .join(", ");
}

function retentionFields(prefix: string, t?: Topic): HTMLElement[] {
  const r = t?.retention;
  const v = (x: bigint | undefined) => (x ? String(x) : "");
  return [
    field(
      "Max age (ms)",
      input(`${prefix}maxAgeMs`, { inputmode: "numeric", value: v(r?.maxAgeMs) }),
      "empty or 0: no limit",
    ),
    field(
      "Max bytes per partition",
      input(`${prefix}maxBytes`, { inputmode: "numeric", value: v(r?.maxBytes) }),
    ),
    field(
      "Max messages per partition",
      input(`${prefix}maxMessages`, { inputmode: "numeric", value: v(r?.maxMessages) }),
    ),
  ];
}

function retentionFrom(form: FormData, prefix: string) {
  return {
    maxAgeMs: nonNegative(String(form.get(`${prefix}maxAgeMs`) ?? ""), "Max age"),
    maxBytes: nonNegative(String(form.get(`${prefix}maxBytes`) ?? ""), "Max bytes"),
    maxMessages: nonNegative(String(form.get(`${prefix}maxMessages`) ?? ""), "Max messages"),
  };
}

function partitionsTable(t: Topic): HTMLElement {
  return table(
    `Partitions of ${t.name}`,
    ["partition", "first offset", "next offset", "size", "leader", "replicas"],
    t.partitionInfo.map((p) => [
      String(p.partition),
      String(p.firstOffset),
      String(p.nextOffset),
      formatBytes(p.retainedBytes),
      p.leaderNodeId ? `${p.leaderNodeId} (${p.leaderRegion})` : "no leader",
      p.replicaNodeIds.join(", "),
    ]),
    { class: "partitions", "data-topic": t.name },
  );
}

function createForm(session: Session, status: HTMLElement, refresh: () => void): HTMLElement {
  const home = h(
    "select",
    { name: "homeRegion" },
    h("option", { value: "" }, "none (leaders balanced)"),
    session.regions.map((r) => h("option", { value: r }, r)),
  );
  const form = h(
    "form",
    { class: "create", "aria-labelledby": "create-topic" },
    h("h2", { id: "create-topic" }, "Create a topic"),
    field("Name", input("name", { required: "true", maxlength: "249", pattern: "[a-zA-Z0-9._\\-]+" })),
    field("Partitions", input("partitions", { inputmode: "numeric", placeholder: "cluster default" })),
    field(
      "Replication factor",
      input("replication", { inputmode: "numeric", placeholder: "cluster default" }),
    ),
    ...retentionFields(""),
    field("Home region", home, "the region that keeps the partitions' leaders"),
    h("button", { type: "submit" }, "Create topic"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      const name = String(data.get("name")).trim();
      const topic = await session.client.admin.createTopic({
        name,
        partitions: Number(nonNegative(String(data.get("partitions")), "Partitions")),
        replicationFactor: Number(nonNegative(String(data.get("replication")), "Replication factor")),
        retention: retentionFrom(data, ""),
        homeRegion: String(data.get("homeRegion")),
      });
      notice(status, `Created topic ${topic?.name ?? name}.`);
      form.reset();
      refresh();
    } catch (err) {
      showError(status, err, "The topic was not created");
    }
  });
  return form;
}

function editRetention(session: Session, t: Topic, status: HTMLElement, refresh: () => void): HTMLElement {
  const form = h(
    "form",
    { class: "edit", "aria-label": `Retention of ${t.name}` },
    ...retentionFields("edit-", t),
    h("button", { type: "submit" }, "Save retention"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const retention = {
        ...retentionFrom(new FormData(form), "edit-"),
        keepUnacknowledged: t.retention?.keepUnacknowledged ?? false,
      };
      await session.client.admin.updateTopic(t.name, { retention });
      notice(status, `Saved the retention of ${t.name}.`);
      refresh();
    } catch (err) {
      showError(status, err, `The retention of ${t.name} was not changed`);
    }
  });
  return form;
}

export const topicsView: View = {
  title: "Topics",
  open(root, session) {
    // Which topics' details are open, kept across redraws.
    const open = new Set<string>();
    const row = (t: Topic, slots: ListSlots) => {
      const details = h("details", { "data-topic": t.name }, h("summary", {}, "partitions and retention"));
      details.open = open.has(t.name);
      details.addEventListener("toggle", () => (details.open ? open.add(t.name) : open.delete(t.name)));
      details.append(partitionsTable(t), editRetention(session, t, slots.status, slots.refresh));
      const del = deleteButton(slots, {
        label: `Delete topic ${t.name}`,
        confirmTitle: `Delete topic ${t.name}?`,
        confirmText: "Its messages and durable consumers are removed on every node. This cannot be undone.",
        confirmLabel: "Delete topic",
        done: `Deleted topic ${t.name}.`,
        failure: `Topic ${t.name} was not deleted`,
        action: () => session.client.admin.deleteTopic(t.name),
      });
      return [
        h("strong", { class: "topic-name" }, t.name),
        String(t.partitions),
        String(t.replicationFactor),
        retentionText(t),
        t.homeRegion || "(none)",
        t.createdAtMicros ? formatMicros(t.createdAtMicros) : "",
        h("div", {}, details, del),
      ];
    };
    return listView(root, {
      everyMs: topicsRefreshMs,
      failure: "The topic list could not be loaded",
      form: (slots) => createForm(session, slots.status, slots.refresh),
      load: async (slots) =>
        table(
          "Topics",
          ["name", "partitions", "replication", "retention", "home region", "created", ""],
          (await session.client.admin.listTopics()).map((t) => row(t, slots)),
          { class: "topics" },
        ),
    });
  },
};
