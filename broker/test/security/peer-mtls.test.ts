import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { controlCodec } from "../../src/cluster/peers/internal-requests.js";
import type { Logger } from "../../src/observability/logger.js";
import type { Message } from "../../src/raft/types.js";
import { PeerTransport } from "../../src/transport/peer-transport.js";
import { freePort } from "../support/process-cluster.js";
import { heartbeat } from "../support/raft-messages.js";
import { makePki, type Pem, type Pki } from "./tls-fixtures.js";

// The peer port with real sockets: a peer must present a certificate that chains to the cluster CA
// AND names an allowed node identity; a node also refuses to talk to a server that does not.

const nodeExt = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
const allowedIdentities = ["eu-0", "us-0", "us-1", "us-2", "*.sectest"];

function recordingLogger(lines: string[]): Logger {
  const record = (message: string, meta?: object) => lines.push(`${message} ${JSON.stringify(meta ?? {})}`);
  return { warn: record, info: record, error: record, debug: record } as unknown as Logger;
}

describe("peer port mTLS with expected identities", () => {
  let pki: Pki;
  const transports: PeerTransport[] = [];
  const ports = new Map<string, number>();
  const serverLog: string[] = [];
  const receivedBy = new Map<string, Message[]>();

  const transport = (id: string, cert: Pem, ca = pki.ca.certFile, logger?: Logger) => {
    const peers = new Map([...ports].map(([p, port]) => [p, `127.0.0.1:${port}`]));
    const t = new PeerTransport({
      control: controlCodec,
      nodeId: id,
      listen: { host: "127.0.0.1", port: ports.get(id)! },
      peers,
      tls: { cert: cert.certFile, key: cert.keyFile, ca, allowedIdentities },
      ...(logger ? { logger } : {}),
    });
    const got: Message[] = [];
    receivedBy.set(id, got);
    t.onMessages((ms) => got.push(...ms));
    transports.push(t);
    return t;
  };

  /** Sends to `to` until the link has failed `times` times (each attempt refused). */
  async function sendUntilRefused(t: PeerTransport, to: string, times = 2): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (let i = 0; (t.stats().get(to)?.reconnects ?? 0) < times; i++) {
      if (Date.now() > deadline) assert.fail(`${t.nodeId} -> ${to} was never refused`);
      t.send([heartbeat(t.nodeId, to, 1000 + i)]);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    pki = makePki();
    for (const id of ["eu-0", "us-0", "us-1", "us-2", "eu-9"]) ports.set(id, await freePort());
  });

  after(async () => {
    for (const t of transports) await t.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  test("a node with a cluster certificate naming it is accepted; another CA or a non-node name is not", async () => {
    const eu0 = transport("eu-0", pki.issue("eu-0", "eu-0", nodeExt), undefined, recordingLogger(serverLog));
    await eu0.start();
    // A proper peer.
    const us0 = transport("us-0", pki.issue("us-0", "us-0", nodeExt));
    await us0.start();
    // A node-named certificate from another CA (it trusts the cluster CA itself, so only the server
    // can refuse it).
    const us1 = transport("us-1", pki.issueFromOtherCa("us-1-other", "us-1", nodeExt));
    await us1.start();
    // The cluster CA, but the certificate names a user, not a node.
    const us2 = transport("us-2", pki.issue("us-2-alice", "alice", nodeExt));
    await us2.start();

    us0.send([heartbeat("us-0", "eu-0", 1)]);
    const deadline = Date.now() + 10_000;
    while (!receivedBy.get("eu-0")!.some((m) => m.from === "us-0")) {
      if (Date.now() > deadline) assert.fail("us-0's message never arrived");
      await new Promise((r) => setTimeout(r, 50));
    }
    await sendUntilRefused(us1, "eu-0");
    await sendUntilRefused(us2, "eu-0");
    const from = new Set(receivedBy.get("eu-0")!.map((m) => m.from));
    assert.deepEqual([...from], ["us-0"], "only the proper peer got through");
    assert.ok(
      serverLog.some((l) => l.includes("refusing a peer connection") && l.includes('\\"alice\\"')),
      `the identity refusal is logged: ${serverLog.join("\n")}`,
    );
  });

  test("a node refuses to send to a server whose certificate does not name a node", async () => {
    // eu-9 listens with a cluster-CA certificate naming "mallory-service": eu-0 must not talk to it.
    const impostor = transport("eu-9", pki.issue("eu-9-impostor", "mallory-service", nodeExt));
    await impostor.start();
    const eu0 = transports.find((t) => t.nodeId === "eu-0")!;
    eu0.setPeer("eu-9", `127.0.0.1:${ports.get("eu-9")}`);
    await sendUntilRefused(eu0, "eu-9");
    assert.equal(receivedBy.get("eu-9")!.length, 0, "nothing reached the impostor");
  });
});
