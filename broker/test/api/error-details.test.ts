import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { Forwarder, neverReachedTarget } from "../../src/cluster/forwarding/forwarder.js";
import { ProposalNotAccepted } from "../../src/cluster/groups/partition-group.js";
import { BrokerError, errorDetailsOf, errorInfoOf, notLeader, unavailable } from "../../src/engine/errors.js";

// Issue 18: retry safety was decided by matching ECONNREFUSED in error text and the leader hint was
// parsed out of message text with a regex. Both are typed now (geobroker.v1.ErrorInfo) and must
// survive the wire: a unary gRPC error, a PublishStream per-message error, and a forwarded hop.

const leader = { nodeId: "n2", region: "eu", clientAddress: "127.0.0.1:7001" };

async function serve(fail: () => Error): Promise<{ address: string; close(): void }> {
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(PublishService, {
          async publish() {
            throw fail();
          },
          async *publishStream(requests) {
            for await (const r of requests) {
              const e = fail() as ConnectError;
              yield {
                sequence: r.sequence,
                result: {
                  case: "error",
                  value: { code: e.code, message: e.rawMessage, info: errorInfoOf(errorDetailsOf(e)) },
                },
              };
            }
          },
        }),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const s of sessions) s.destroy();
      server.close();
    },
  };
}

function client(address: string) {
  return createClient(PublishService, createGrpcTransport({ baseUrl: `http://${address}` }));
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("the call succeeded");
}

test("a refusal's retry safety and leader hint arrive as fields over gRPC, not as text", async () => {
  const server = await serve(() => notLeader("group 7", leader));
  try {
    const err = await failure(client(server.address).publish({ topic: "t" }));
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Unavailable);
    assert.deepEqual(errorDetailsOf(err), { retrySafe: true, leader });
    assert.equal(neverReachedTarget(err), true, "a retry-safe refusal may be sent elsewhere");
  } finally {
    server.close();
  }
});

test("an UNAVAILABLE without retry safety is not retried: the target may have acted on it", async () => {
  const server = await serve(() => unavailable("stream broke after the append"));
  try {
    const err = await failure(client(server.address).publish({ topic: "t" }));
    assert.deepEqual(errorDetailsOf(err), {});
    assert.equal(neverReachedTarget(err), false);
  } finally {
    server.close();
  }
});

test("a connection never made is retry-safe, found by the socket error code, not the message", async () => {
  const probe = http2.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const err = await failure(client(`127.0.0.1:${port}`).publish({ topic: "t" }));
  assert.equal(neverReachedTarget(err), true);
  const reworded = new ConnectError("connection refused (ECONNREFUSED)", Code.Unavailable);
  assert.equal(neverReachedTarget(reworded), false, "text alone proves nothing");
});

test("a forwarded publish refused on the leader's stream keeps its typed details", async () => {
  const server = await serve(() => new ProposalNotAccepted("leadership is moving"));
  const forwarder = new Forwarder(undefined);
  try {
    const call = { signal: new AbortController().signal, hops: 0 };
    const err = await failure(
      forwarder.publish(server.address, call, create(PublishService.method.publish.input)),
    );
    assert.ok(err instanceof BrokerError);
    assert.equal(err.code, Code.Unavailable);
    assert.equal(err.retrySafe, true);
    assert.equal(neverReachedTarget(err), true);
  } finally {
    server.close();
  }
});

test("a BrokerError thrown locally reports its details without a wire round trip", () => {
  const e = notLeader("the metadata group", undefined);
  assert.equal(e.retrySafe, true);
  assert.equal(e.leader, undefined);
  assert.deepEqual(errorDetailsOf(e), { retrySafe: true });
  assert.match(e.message, /leader: unknown/);
  // ConnectError recognizes its kind by name; a BrokerError subclass must not claim every ConnectError
  // (the publish path retries only ProposalNotAccepted: refused before any append).
  assert.equal(new ConnectError("timed out", Code.Unavailable) instanceof ProposalNotAccepted, false);
  assert.equal(new ConnectError("timed out", Code.Unavailable) instanceof BrokerError, false);
  assert.equal(new ProposalNotAccepted("moving") instanceof BrokerError, true);
  assert.equal(e instanceof ConnectError, true, "Connect still sees its own error, with its code");
});
