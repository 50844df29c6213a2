import { InProcessCluster } from "./dist/broker/test/support/in-process-cluster.js";

const nodes = [
  { id: "eu-0", region: "eu" },
  { id: "eu-1", region: "eu" },
  { id: "us-0", region: "us" },
];
const c = await InProcessCluster.start({ nodes, seed: 1 });
await c.ready();
await c.clients("eu-0").topics.createTopic({ topic: { name: "n", partitions: 1, replicationFactor: 3 } });
await c.ready();
let stop = false,
  n = 0;
const acked = [];
const t0 = Date.now();
const up = () =>
  nodes.filter((x) => {
    try {
      return c.node(x.id);
    } catch {
      return false;
    }
  });
const pub = async () => {
  while (!stop) {
    const u = up();
    const at = u[n % u.length].id;
    const p = `m${n++}`;
    try {
      await c.clients(at).publish.publish({ topic: "n", body: new TextEncoder().encode(p) });
      acked.push(p);
    } catch (e) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
};
const ps = Array.from({ length: 8 }, pub);
const show = (label) => {
  console.log(Date.now() - t0, label, "acked", acked.length);
  for (const id of ["eu-0", "eu-1", "us-0"]) {
    try {
      const v = c.node(id).localView();
      console.log(
        "  ",
        id,
        "rej",
        v.rejoining,
        "inc",
        v.incarnation?.slice(0, 6),
        v.groups
          .map(
            (g) =>
              `${g.groupId}:L=${g.leader},t=${g.term},c=${g.commit},li=${g.lastIndex},v=${g.conf.voters.join("/")},l=${g.conf.learners.join("/")}`,
          )
          .join(" "),
      );
    } catch (e) {
      console.log("  ", id, "down");
    }
  }
};
const settle = async () => {
  const d = Date.now() + 8000;
  while (Date.now() < d) {
    try {
      await c.ready(200);
      if (nodes.every((x) => !c.node(x.id).localView().rejoining)) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
};
for (const [kind, id] of [
  ["crash", "eu-0"],
  ["crash", "eu-0"],
  ["wipe", "us-0"],
  ["wipe", "eu-1"],
]) {
  await new Promise((r) => setTimeout(r, 200));
  if (kind === "wipe") await c.wipe(id);
  else await c.crash(id);
  await new Promise((r) => setTimeout(r, 150));
  await c.startNode(id);
  const ok = await settle();
  show(`${kind} ${id} settled=${ok}`);
  if (!ok) break;
}
stop = true;
await c.stop();
for (const id of ["eu-0", "eu-1", "us-0"])
  console.log(
    id,
    c
      .lines(id)
      .filter((l) => /group 1|incarnation|admit/.test(l))
      .slice(-8)
      .join("\n    "),
  );
