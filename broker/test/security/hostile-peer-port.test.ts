import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, test } from "node:test";
import { type Message, MessageType } from "../../src/raft/types.js";
import { maxFrameBytes } from "../../src/transport/framing.js";
import { controlPath, streamPath } from "../../src/transport/peer-link.js";
import type { PeerTransport } from "../../src/transport/peer-transport.js";
import { loopbackTransport } from "../support/loopback-transport.js";
import { freePort } from "../support/process-cluster.js";

// Hostile input on a peer port without TLS (issue 19): anyone who reaches it can open streams. What it
// may cost is bounded: a frame header over the limit ends the stream at once, and the streams of one
// connection together buffer at most their budget. The node goes on taking its real peers' traffic.

let b: PeerTransport;
let a: PeerTransport;
let port: number;
const received: Message[] = [];

before(async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  port = pb;
  const peers = new Map([
    ["a", `127.0.0.1:${pa}`],
    ["b", `127.0.0.1:${pb}`],
  ]);
  a = loopbackTransport("a", pa, peers);
  b = loopbackTransport("b", pb, peers);
  b.onMessages((ms) => received.push(...ms));
  b.onControl(async (request) => request);
  await a.start();
  await b.start();
});

after(async () => {
  await a?.stop();
  await b?.stop();
});

const header = (length: number) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(length, 1);
  return h;
};

/**
 * Sends `first`, then `mib` MiB of junk on a new stream of `session`; resolves with how many bytes
 * were written when the server ended the stream (or all of them, if it never did).
 */
function flood(session: http2.ClientHttp2Session, path: string, first: Buffer, mib: number): Promise<number> {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc" });
    let written = 0;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      resolve(written);
    };
    stream.on("close", end);
    stream.on("error", end);
    stream.on("response", () => undefined);
    stream.on("data", () => undefined);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const pump = () => {
      while (!ended && written < mib * 1024 * 1024) {
        written += chunk.byteLength;
        if (!stream.write(chunk)) return stream.once("drain", pump);
      }
      if (!ended) stream.end();
    };
    stream.write(first);
    pump();
  });
}

const heartbeat = (index: number): Message => ({
  type: MessageType.Heartbeat,
  groupId: 1,
  from: "a",
  to: "b",
  term: 1,
  logTerm: 0,
  index,
  commit: 0,
  entries: [],
  reject: false,
  rejectHint: 0,
  context: new Uint8Array(),
});

test("a frame header over the limit ends the stream at once, on the Raft and the Control path", async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const raft = await flood(session, streamPath, header(maxFrameBytes + 1), 64);
    assert.ok(
      raft < 32 * 1024 * 1024,
      `the Raft stream was ended after ${raft} bytes, not buffered to 64 MiB`,
    );
    const control = await flood(session, controlPath, header(16 * 1024 * 1024), 64);
    assert.ok(control < 32 * 1024 * 1024, `the Control stream was ended after ${control} bytes`);
  } finally {
    session.destroy();
  }
});

test("streams of one connection together buffer no more than its budget", async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    // Each announces a frame under the limit and never completes it: four of them at 48 MiB each
    // would hold 192 MiB; the connection's budget (128 MiB) ends streams first.
    const sent = await Promise.all(
      [0, 1, 2, 3].map(() => flood(session, streamPath, header(maxFrameBytes - 1), 48)),
    );
    const buffered = sent.reduce((x, y) => x + y, 0);
    assert.ok(
      sent.some((n) => n < 48 * 1024 * 1024),
      `some stream was ended before its 48 MiB: ${sent.map((n) => n >> 20).join(", ")} MiB`,
    );
    assert.ok(buffered < 190 * 1024 * 1024, `together ${buffered >> 20} MiB went in`);
  } finally {
    session.destroy();
  }
});

test("after all that the node still takes its real peer's messages", async () => {
  const before = received.length;
  a.send([heartbeat(1), heartbeat(2)]);
  const deadline = Date.now() + 10_000;
  while (received.length < before + 2) {
    if (Date.now() > deadline) throw new Error("the real peer's messages did not arrive");
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(
    received.slice(before).map((m) => m.index),
    [1, 2],
  );
});
