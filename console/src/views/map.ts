import { h, showError, table } from "../dom.js";
import { buildClusterMap, type ClusterMap, type MapGroup } from "../model/cluster-map.js";
import { every, type View } from "../session.js";

/** How often the map asks again: it is live, and one GetClusterInfo per tab is cheap. */
export const mapRefreshMs = 2000;

const statusText: Record<string, string> = {
  voter: "voter",
  learner: "learner (catching up)",
  draining: "draining",
  drained: "drained",
  unreachable: "unreachable",
  unknown: "state unknown",
};

function regionsView(map: ClusterMap): HTMLElement {
  return h(
    "div",
    { class: "regions" },
    map.regions.map((r) =>
      h(
        "section",
        { class: "region", "aria-labelledby": `region-${r.name}`, "data-region": r.name },
        h("h2", { id: `region-${r.name}` }, `Region ${r.name}`),
        r.nodes.length === 0 ? h("p", {}, "no nodes") : null,
        h(
          "ul",
          { class: "nodes" },
          r.nodes.map((n) =>
            h(
              "li",
              { class: `node ${n.status}`, "data-node": n.id },
              h("span", { class: "node-id" }, n.id),
              h("span", { class: `badge ${n.status}` }, statusText[n.status] ?? n.status),
              n.zone ? h("span", { class: "zone" }, `zone ${n.zone}`) : null,
              h(
                "span",
                { class: "leads", "data-leads": n.leads.join(",") },
                n.leads.length ? `leads ${n.leads.join(", ")}` : "leads nothing",
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function membersCell(g: MapGroup): HTMLElement {
  return h(
    "ul",
    { class: "members" },
    g.members.map((m) =>
      h(
        "li",
        {},
        `${m.nodeId} (${m.region}) ${m.role}${m.isLeader ? ", leader" : `, lag ${m.lagEntries} entries`}`,
      ),
    ),
  );
}

function groupsTable(map: ClusterMap): HTMLElement {
  return table(
    "Raft groups: who leads each partition, each member's replication lag",
    ["group", "home region", "leader", "term", "commit index", "members"],
    map.groups.map((g) => [
      h("span", { "data-group": g.label }, g.label),
      g.homeRegion || "(none: balanced)",
      g.leader
        ? h(
            "span",
            { "data-leader": g.leader, class: g.leaderAway ? "away" : "" },
            `${g.leader} (${g.leaderRegion})${g.leaderAway ? ", outside its home region" : ""}`,
          )
        : h("span", { class: "warn" }, "no leader"),
      String(g.term),
      String(g.commitIndex),
      membersCell(g),
    ]),
    { class: "groups" },
  );
}

export const mapView: View = {
  title: "Cluster map",
  open(root, session) {
    const errors = h("div", { "aria-live": "polite" });
    const summary = h("p", { class: "summary" });
    const content = h("div", { "aria-busy": "true" }, "loading...");
    root.append(errors, summary, content);
    return every(mapRefreshMs, async () => {
      try {
        const map = buildClusterMap(await session.client.admin.clusterInfo());
        showError(errors, undefined);
        const nodes = map.regions.reduce((s, r) => s + r.nodes.length, 0);
        summary.textContent = `${map.regions.length} regions, ${nodes} nodes, ${map.groups.length} groups; updated ${new Date().toLocaleTimeString()}`;
        content.replaceChildren(
          map.leaderless.length
            ? h(
                "p",
                { class: "warn", role: "alert" },
                `No leader (writes fail until one is elected): ${map.leaderless.join(", ")}`,
              )
            : "",
          regionsView(map),
          groupsTable(map),
        );
        content.setAttribute("aria-busy", "false");
      } catch (err) {
        // The last map stays; the error says it is stale and why.
        showError(errors, err, "The map could not be refreshed");
      }
    });
  },
};
