import assert from "node:assert/strict";
import { type Socket, connect as tcpConnect } from "node:net";
import { after, before, describe, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { Code } from "@connectrpc/connect";
import { basicHeader, connectRaw, envelope, rawCall } from "./hostile-client.js";
import { nodeTlsFiles } from "./hostile-setup.js";
import { type LiveNode, startLiveNode } from "./live-node.js";
import { makePki } from "./tls-fixtures.js";

// Issue #19: connection limits counted only HTTP/2 sessions (not HTTP/1.1, not TLS handshakes in
// progress), and one health Watch kept a session busy forever, so anyone could fill the cap.

const perAddress = 3;
const password = "conn-password-1";
const health = { path: "/grpc.health.v1.Health/Check", body: envelope(Buffer.alloc(0)) };

async function tcpHolds(port: number, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = tcpConnect(port, "127.0.0.1", () => resolve(s));
          s.on("error", reject);
        }),
    ),
  );
}

describe("hostile input: connection slots (h2c)", () => {
  let node: LiveNode;
  before(async () => {
    node = await startLiveNode({
      users: { writer: password },
      config: {
        auth: { modes: ["basic"] },
        limits: { connections: { maxSessionsPerAddress: perAddress, idleSessionMs: 1500 } },
      },
    });
  });
  after(async () => node?.stop());

  test("TCP connections that never send the HTTP/2 preface take slots: the next call is RESOURCE_EXHAUSTED", async () => {
    const holds = await tcpHolds(node.clientPort, perAddress);
    await new Promise((r) => setTimeout(r, 200));
    const s = connectRaw(`http://127.0.0.1:${node.clientPort}`);
    try {
      const a = await rawCall(s, health);
      assert.equal(a.grpcStatus, Code.ResourceExhausted, a.grpcMessage);
      assert.match(a.grpcMessage, /too many connections from 127\.0\.0\.1: the limit is 3/);
    } finally {
      s.destroy();
      for (const h of holds) h.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    const again = connectRaw(`http://127.0.0.1:${node.clientPort}`);
    try {
      assert.equal((await rawCall(again, health)).grpcStatus, 0, "slots are released on close");
    } finally {
      again.destroy();
    }
  });

  test("a health Watch does not keep its connection from being closed as idle", async () => {
    const s = connectRaw(`http://127.0.0.1:${node.clientPort}`);
    const closed = new Promise<number>((resolve) => {
      const started = Date.now();
      s.once("close", () => resolve(Date.now() - started));
    });
    const watch = rawCall(s, {
      path: "/grpc.health.v1.Health/Watch",
      body: envelope(Buffer.alloc(0)),
      timeoutMs: 20_000,
    });
    const ms = await closed;
    assert.ok(ms < 12_000, `the session closed after ${ms} ms`);
    await watch;
  });

  test("an authenticated stream does keep its connection", async () => {
    const s = connectRaw(`http://127.0.0.1:${node.clientPort}`);
    const headers = { authorization: basicHeader("writer", password) };
    try {
      // broker.Broker/Publish {topic: "keep", body: "x"} creates the topic; Subscribe {keep: 0} then waits.
      const topic = Buffer.from("keep");
      const published = await rawCall(s, {
        path: "/broker.Broker/Publish",
        headers,
        body: envelope(Buffer.concat([Buffer.from([0x0a, 4]), topic, Buffer.from([0x12, 1, 0x78])])),
      });
      assert.equal(published.grpcStatus, 0, published.grpcMessage);
      const sub = await rawCall(s, {
        path: "/broker.Broker/Subscribe",
        headers,
        body: envelope(Buffer.concat([Buffer.from([0x0a, 8, 0x0a, 4]), topic, Buffer.from([0x10, 0])])),
        timeoutMs: 4000,
      });
      assert.equal(sub.grpcStatus, undefined, "the subscription was still open when the client left");
      assert.equal(s.closed || s.destroyed, false, "its connection outlived idleSessionMs");
    } finally {
      s.destroy();
    }
  });
});

describe("hostile input: connection slots (TLS, HTTP/1.1)", () => {
  let node: LiveNode;
  let ca: string;
  before(async () => {
    const pki = makePki();
    ca = pki.ca.cert;
    const files = nodeTlsFiles(pki);
    node = await startLiveNode({
      dir: pki.dir,
      users: { writer: password },
      config: {
        tls: { client: { ...files, requireClientCert: false }, peer: files },
        auth: { modes: ["basic"] },
        limits: { connections: { maxSessionsPerAddress: perAddress, handshakeMs: 1500 } },
      },
    });
  });
  after(async () => node?.stop());

  const tlsCall = () => {
    const s = connectRaw(`https://127.0.0.1:${node.clientPort}`, { ca });
    return rawCall(s, health).finally(() => s.destroy());
  };

  test("TLS handshakes in progress take slots, and are dropped after handshakeMs", async () => {
    const holds = await tcpHolds(node.clientPort, perAddress); // never send a ClientHello
    await new Promise((r) => setTimeout(r, 200));
    const refused = await tlsCall();
    assert.equal(refused.grpcStatus, Code.ResourceExhausted, refused.grpcMessage);
    const dropped = await Promise.all(holds.map((h) => new Promise((r) => h.once("close", r))));
    assert.equal(dropped.length, perAddress, "the stalled handshakes were dropped");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await tlsCall()).grpcStatus, 0);
  });

  test("HTTP/1.1 connections take slots too", async () => {
    await new Promise((r) => setTimeout(r, 500)); // the server sees the last test's connections close
    const http1 = await Promise.all(
      Array.from(
        { length: perAddress },
        () =>
          new Promise<TLSSocket>((resolve, reject) => {
            const s = tlsConnect(
              { host: "127.0.0.1", port: node.clientPort, ca, ALPNProtocols: ["http/1.1"] },
              () => resolve(s),
            );
            s.on("error", reject);
          }),
      ),
    );
    try {
      for (const s of http1) assert.equal(s.alpnProtocol, "http/1.1", "negotiated HTTP/1.1");
      await new Promise((r) => setTimeout(r, 200));
      const refused = await tlsCall();
      assert.equal(refused.grpcStatus, Code.ResourceExhausted, refused.grpcMessage);
    } finally {
      for (const s of http1) s.destroy();
    }
  });
});
