import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  controlCodec,
  decodeInternal,
  encodeInternal,
  type InternalReply,
} from "../../src/cluster/peers/internal-requests.js";
import type { Logger } from "../../src/observability/logger.js";
import type { Message } from "../../src/raft/types.js";
import { PeerTransport } from "../../src/transport/peer-transport.js";
import { freePort } from "../support/process-cluster.js";
import { heartbeat } from "../support/raft-messages.js";
import { makePki, type Pem, type Pki } from "./tls-fixtures.js";

// Per-node peer identity over real TLS: a connection is bound to the node its certificate names, so
// the holder of node us-0's key cannot send Raft messages, open a Raft stream or make Control
// requests as us-1, nor answer for us-1 when a node dials it. A shared certificate does so only
// where tls.peer.sharedIdentities names it.

const nodeExt = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
const allowedIdentities = ["eu-0", "us-0", "us-1", "sectest-peer"];

function recordingLogger(lines: string[]): Logger {
  const record = (message: string, meta?: object) => lines.push(`${message} ${JSON.stringify(meta ?? {})}`);
  return { warn: record, info: record, error: record, debug: record } as unknown as Logger;
}

const until = async (what: string, ok: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("peer connections bound to their certificate's node", () => {
  let pki: Pki;
  const transports: PeerTransport[] = [];
  const ports = new Map<string, number>();
  const received = new Map<string, Message[]>();
  const eu0Log: string[] = [];
  let eu0: PeerTransport;

  /** A transport that calls itself `id`, holding `cert`, with `port` as its listen port. */
  const transport = (
    id: string,
    cert: Pem,
    o: { port: number; sharedIdentities?: string[]; log?: string[] },
  ) => {
    const peers = new Map([...ports].map(([p, port]) => [p, `127.0.0.1:${port}`]));
    const t = new PeerTransport({
      control: controlCodec,
      nodeId: id,
      listen: { host: "127.0.0.1", port: o.port },
      peers,
      tls: {
        cert: cert.certFile,
        key: cert.keyFile,
        ca: pki.ca.certFile,
        allowedIdentities,
        ...(o.sharedIdentities ? { sharedIdentities: o.sharedIdentities } : {}),
      },
      ...(o.log ? { logger: recordingLogger(o.log) } : {}),
    });
    const got: Message[] = [];
    received.set(`${id}@${o.port}`, got);
    t.onMessages((ms) => got.push(...ms));
    t.onControl(async () => encodeInternal({ type: "formation", formed: true } satisfies InternalReply));
    transports.push(t);
    return { t, got };
  };

  before(async () => {
    pki = makePki();
    for (const id of ["eu-0", "us-0", "us-1"]) ports.set(id, await freePort());
    const server = transport("eu-0", pki.issue("eu-0", "eu-0", nodeExt), {
      port: ports.get("eu-0")!,
      log: eu0Log,
    });
    eu0 = server.t;
    await eu0.start();
  });

  after(async () => {
    for (const t of transports) await t.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  test("us-0's certificate carries us-0's messages, and drops those claiming to be us-1", async () => {
    const { t: us0 } = transport("us-0", pki.issue("us-0", "us-0", nodeExt), { port: ports.get("us-0")! });
    await us0.start();
    const got = received.get(`eu-0@${ports.get("eu-0")}`)!;
    // One batch on us-0's own stream: its own heartbeat and a forged one from us-1.
    for (let i = 0; !got.some((m) => m.from === "us-0"); i++) {
      us0.send([heartbeat("us-0", "eu-0", 10 + i), heartbeat("us-1", "eu-0", 500 + i)]);
      await new Promise((r) => setTimeout(r, 50));
      if (i > 200) assert.fail("us-0's own heartbeat never arrived");
    }
    // The forged heartbeat travelled in the same batch as the one that arrived.
    assert.deepEqual(
      got.filter((m) => m.from !== "us-0").map((m) => `${m.from}:${m.index}`),
      [],
      "no message claiming us-1 was handed to Raft",
    );
    assert.ok(eu0.senders.refused >= 1);
    assert.ok(
      eu0Log.some(
        (l) => l.includes("refusing a peer message from another sender") && l.includes('\\"us-1\\"'),
      ),
      `the refusal is an audit line: ${eu0Log.join("\n")}`,
    );
  });

  test("a node holding us-0's certificate and calling itself us-1 gets no stream and no Control answer", async () => {
    const { t: fake } = transport("us-1", pki.issue("us-0-again", "us-0", nodeExt), {
      port: await freePort(),
    });
    const before = eu0.senders.refused;
    fake.send([heartbeat("us-1", "eu-0", 1)]);
    // Refused either way: PERMISSION_DENIED, or the session ends first with the refused Raft stream.
    await assert.rejects(async () =>
      decodeInternal(await fake.call("eu-0", encodeInternal({ type: "formation" }), 5000)),
    );
    await until("the stream and the Control request to be refused", () => eu0.senders.refused >= before + 2);
    for (const what of ["raft stream", "control request"])
      assert.ok(
        eu0Log.some((l) => l.includes(`"what":"${what}"`) && l.includes('claims to be \\"us-1\\"')),
        `${what} refused: ${eu0Log.join("\n")}`,
      );
    const got = received.get(`eu-0@${ports.get("eu-0")}`)!;
    assert.equal(got.filter((m) => m.from === "us-1").length, 0);
  });

  test("eu-0 refuses to send to node us-1 when the server at its address holds us-0's certificate", async () => {
    const { t: impostor, got } = transport("us-1", pki.issue("us-0-third", "us-0", nodeExt), {
      port: ports.get("us-1")!,
    });
    await impostor.start();
    for (let i = 0; (eu0.stats().get("us-1")?.reconnects ?? 0) < 2; i++) {
      if (i > 300) assert.fail("eu-0 -> us-1 was never refused");
      eu0.send([heartbeat("eu-0", "us-1", 1000 + i)]);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(got.length, 0, "nothing reached the impostor");
  });

  test("a shared certificate is refused unless configured, and then speaks for any node", async () => {
    const shared = pki.issue("sectest-peer", "sectest-peer", nodeExt);
    const log: string[] = [];
    const strictPort = await freePort();
    const { t: strict } = transport("eu-0", pki.issue("eu-0-strict", "eu-0", nodeExt), {
      port: strictPort,
      log,
    });
    await strict.start();
    const lenientPort = await freePort();
    const { t: lenient, got } = transport("eu-0", shared, {
      port: lenientPort,
      sharedIdentities: ["sectest-peer"],
    });
    await lenient.start();
    // Both senders hold the shared certificate; the strict server does not name it shared, so the
    // shared CN is a node id no member has: the connection is bound to "sectest-peer".
    const sender = (port: number) => {
      ports.set("eu-0", port);
      return transport("us-0", shared, { port: 0, sharedIdentities: ["sectest-peer"] }).t;
    };
    const toStrict = sender(strictPort);
    const toLenient = sender(lenientPort);
    for (let i = 0; !got.some((m) => m.from === "us-1"); i++) {
      toLenient.send([heartbeat("us-1", "eu-0", i)]);
      toStrict.send([heartbeat("us-1", "eu-0", i)]);
      await new Promise((r) => setTimeout(r, 50));
      if (i > 200) assert.fail("the shared certificate's message never reached the lenient server");
    }
    await until("the strict server to refuse", () => strict.senders.refused > 0);
    assert.equal(received.get(`eu-0@${strictPort}`)!.length, 0);
  });
});
