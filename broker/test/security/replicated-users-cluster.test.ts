import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { v1Clients } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { basicHeader } from "./hostile-client.js";

// Users are replicated metadata state (docs/security.md, decision 0023): three real processes, each
// fed a different users file (a changed Secret half rolled out), still authenticate alike, from what
// the metadata group replicated: the metadata leader's files. Leadership moving to a node with other
// files changes the answer everywhere at once, never on one node alone.

const alice = { name: "alice", password: "alice-password-1" };
const bob = { name: "bob", password: "bob-password-1" };
const extraUsers: Record<string, (typeof alice)[]> = { "eu-0": [alice], "us-0": [bob], "ap-0": [] };

let cluster: ProcessCluster;

before(async () => {
  cluster = await ProcessCluster.start(["eu", "us", "ap"], { usersFor: (id) => extraUsers[id] ?? [] });
});

after(async () => {
  await cluster?.stop();
});

// Each probe round comes from its own loopback address: the "no" answers are failed
// authentications, and a round repeated while the answer converges would otherwise lock out
// 127.0.0.1 (auth.maxFailures 20 in 60 s per address), and the admin calls with it.
let probeRound = 0;
const probeAddress = () => ({ localAddress: `127.0.1.${(probeRound++ % 250) + 1}` });

/** Whether `user` authenticates at each node ("yes"/"no"), as one line such as "eu-0=yes us-0=yes ap-0=yes". */
async function decisions(user: typeof alice): Promise<string> {
  const out: string[] = [];
  const from = probeAddress();
  for (const n of cluster.nodes) {
    const c = v1Clients(n.clientPort, from);
    let known = "yes";
    try {
      await c.topics.listTopics({}, { headers: { authorization: basicHeader(user.name, user.password) } });
    } catch (err) {
      const code = ConnectError.from(err).code;
      if (code === Code.Unauthenticated) known = "no";
      else if (code !== Code.PermissionDenied) throw err;
    }
    out.push(`${n.id}=${known}`);
  }
  return out.join(" ");
}

const all = (answer: "yes" | "no") => cluster.nodes.map((n) => `${n.id}=${answer}`).join(" ");

async function metadataLeader(): Promise<string> {
  const c = v1Clients(cluster.nodes[0]!.clientPort);
  return eventually("a metadata leader", 15_000, async () => {
    const info = await c.cluster.getClusterInfo({}, { headers: c.headers });
    return info.groups.find((g) => g.id === 0n)?.leaderNodeId || undefined;
  });
}

/** Every node answers every user as the leader's files say. */
async function agreeWith(leader: string): Promise<void> {
  const expect = (u: typeof alice) => all(extraUsers[leader]!.includes(u) ? "yes" : "no");
  await eventually(`every node to decide as ${leader}'s files say`, 20_000, async () =>
    (await decisions(alice)) === expect(alice) && (await decisions(bob)) === expect(bob) ? true : undefined,
  );
}

test("nodes fed different users files decide alike, from the metadata leader's files, and change together", async () => {
  const first = await metadataLeader();
  await agreeWith(first);
  // Move the metadata leadership to a node whose files differ, and the answer moves everywhere.
  const next = first === "eu-0" ? "us-0" : "eu-0";
  const c = v1Clients(cluster.nodes[0]!.clientPort);
  await eventually(`the metadata leadership to move to ${next}`, 20_000, async () => {
    await c.cluster.transferLeadership({ groupId: 0n, targetNodeId: next }, { headers: c.headers });
    return (await metadataLeader()) === next || undefined;
  });
  await agreeWith(next);
});
