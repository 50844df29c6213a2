import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse } from "yaml";
import { controlCodec } from "../../src/cluster/peers/internal-requests.js";
import { resolveConfig } from "../../src/config/load.js";
import { prepareLocalCluster } from "../../src/local/layout.js";
import type { Message } from "../../src/raft/types.js";
import { peerTlsWithIdentities } from "../../src/security/peer-identity.js";
import { PeerTransport } from "../../src/transport/peer-transport.js";
import { freePort } from "../support/process-cluster.js";
import { heartbeat } from "../support/raft-messages.js";

// `npm start --tls` (geobroker local) makes its own PKI: one certificate per node whose CN is the
// node id, and no shared peer identity. Its nodes' peer ports therefore bind each connection to one
// node: with eu-1's files, a process can speak as eu-1 only.

const dir = mkdtempSync(join(tmpdir(), "geobroker-local-pki-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the local cluster's nodes hold per-node certificates, bound on the peer port", async () => {
  const base = await freePort();
  const file = await prepareLocalCluster(
    { regions: ["eu"], nodesPerRegion: 2, basePort: base, dir, wanDelay: "", tls: true },
    () => {},
  );
  const configs = file.nodes.map((n) => resolveConfig([parse(readFileSync(n.config, "utf8"))]));
  for (const c of configs) {
    const cert = new X509Certificate(readFileSync(c.tls.peer!.cert));
    assert.equal(cert.subject, `CN=${c.nodeId}`, "the peer certificate names its node");
    assert.equal(c.tls.peer!.sharedIdentities, undefined, "no shared peer certificate");
  }
  const got: Message[] = [];
  const transports = configs.map((c) => {
    const t = new PeerTransport({
      control: controlCodec,
      nodeId: c.nodeId,
      listen: { host: "127.0.0.1", port: c.ports.peer },
      peers: new Map(c.peers.map((p) => [p.id, p.peerAddress])),
      tls: peerTlsWithIdentities(c),
    });
    if (c.nodeId === "eu-0") t.onMessages((ms) => got.push(...ms));
    return t;
  });
  try {
    for (const t of transports) await t.start();
    const [eu0, eu1] = transports as [PeerTransport, PeerTransport];
    for (let i = 0; !got.some((m) => m.from === "eu-1"); i++) {
      if (i > 200) assert.fail("eu-1's own heartbeat never arrived");
      // eu-1's process claims to be a third node too, in the same batch.
      eu1.send([heartbeat("eu-1", "eu-0", i), heartbeat("eu-9", "eu-0", i)]);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual([...new Set(got.map((m) => m.from))], ["eu-1"]);
    assert.ok(eu0.senders.refused >= 1);
  } finally {
    for (const t of transports) await t.stop();
  }
});
