import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { clientStreamingPaths, guardHttp2Server, SessionCounter } from "../../src/security/limits.js";

describe("session counter", () => {
  test("per-address and total limits, released on close", () => {
    const c = new SessionCounter(2, 3);
    assert.equal(c.admit("a").admitted, true);
    assert.equal(c.admit("a").admitted, true);
    const third = c.admit("a");
    assert.equal(third.admitted, false);
    assert.match(!third.admitted ? third.reason : "", /too many connections from a: the limit is 2/);
    assert.equal(c.admit("b").admitted, true);
    const full = c.admit("c");
    assert.equal(!full.admitted && full.limit, "sessions");
    c.release("a");
    assert.equal(c.count("a"), 1);
    assert.equal(c.admit("c").admitted, true);
    assert.equal(c.count(), 3);
  });

  test("streaming method paths come from the service descriptors", () => {
    assert.deepEqual(clientStreamingPaths([PublishService, Broker]), [
      "/geobroker.v1.PublishService/PublishStream",
    ]);
  });
});

describe("HTTP/2 guard on a live server", () => {
  let server: http2.Http2Server;
  let port: number;
  const limits: string[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();

  before(async () => {
    server = http2.createServer();
    const guard = guardHttp2Server(server, {
      maxSessionsPerAddress: 2,
      idleSessionMs: 300,
      requestBodyMs: 300,
      clientStreamingPaths: clientStreamingPaths([PublishService]),
      onLimit: (limit, address) => limits.push(`${limit} ${address}`),
    });
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(Broker, {
          async publish(req) {
            return { id: `ok ${req.topic}` };
          },
          async *subscribe() {},
        }),
    });
    server.on("request", guard.wrap(handler));
    server.on("session", (s) => {
      sessions.add(s);
      s.once("close", () => sessions.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const grpcClient = () => createClient(Broker, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

  test("a third connection from one address gets RESOURCE_EXHAUSTED, gRPC and Connect alike", async () => {
    const a = grpcClient();
    const b = grpcClient();
    assert.equal((await a.publish({ topic: "t" })).id, "ok t");
    assert.equal((await b.publish({ topic: "t" })).id, "ok t");
    for (const c of [
      grpcClient(),
      createClient(Broker, createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" })),
    ]) {
      const err = await c.publish({ topic: "t" }).then(
        () => assert.fail("should be refused"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.ResourceExhausted);
      assert.match(err.rawMessage, /too many connections from 127\.0\.0\.1: the limit is 2/);
    }
    assert.ok(limits.includes("sessions_per_address 127.0.0.1"));
    // Those two connections go idle and are closed by the idle limit, which frees the slots.
    await eventually(
      () => limits.filter((l) => l.startsWith("idle_session")).length >= 2,
      "idle sessions closed",
    );
    await eventually(() => sessions.size === 0, "sessions released");
    assert.equal((await grpcClient().publish({ topic: "again" })).id, "ok again");
  });

  test("a connection that opens and asks nothing is closed", async () => {
    const before = limits.filter((l) => l.startsWith("idle_session")).length;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    await new Promise((r) => session.once("close", r));
    assert.ok(limits.filter((l) => l.startsWith("idle_session")).length > before);
  });

  test("a unary request body that never arrives ends in DEADLINE_EXCEEDED, and the server lives on", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/broker.Broker/Publish",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.write(Buffer.from([0, 0, 0, 0, 10])); // a frame header promising 10 bytes, then silence
    let headers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      headers = h;
    });
    stream.resume();
    // The server answers while our side is still open: the status comes in the trailers.
    await new Promise<void>((resolve) =>
      stream.on("trailers", (t) => {
        headers = { ...headers, ...t };
        resolve();
      }),
    );
    stream.close();
    session.close();
    assert.equal(headers["grpc-status"], String(Code.DeadlineExceeded));
    assert.match(decodeURIComponent(String(headers["grpc-message"])), /did not arrive within 300 ms/);
    assert.ok(limits.some((l) => l.startsWith("request_body")));
    assert.equal((await grpcClient().publish({ topic: "alive" })).id, "ok alive");
  });

  test("malformed protobuf and unknown methods get their codes, not a crash", async () => {
    await eventually(() => sessions.size === 0, "earlier connections closed"); // stay under the limit of 2
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const call = (path: string, body: Buffer) =>
      new Promise<http2.IncomingHttpHeaders>((resolve) => {
        const stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        let headers: http2.IncomingHttpHeaders = {};
        stream.on("response", (h) => {
          headers = h;
        });
        stream.on("trailers", (t) => {
          headers = { ...headers, ...t };
        });
        stream.on("close", () => resolve(headers));
        stream.resume();
        stream.end(body);
      });
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 0, 4]), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
    // Undecodable protobuf is INTERNAL with "parse binary", as grpc-go and connect-es answer it.
    const undecodable = await call("/broker.Broker/Publish", garbage);
    assert.equal(undecodable["grpc-status"], String(Code.Internal));
    assert.match(decodeURIComponent(String(undecodable["grpc-message"])), /parse binary/);
    // A truncated envelope is a protocol error: INVALID_ARGUMENT.
    const truncated = await call("/broker.Broker/Publish", Buffer.from([0, 0, 0, 0, 9, 1]));
    assert.equal(truncated["grpc-status"], String(Code.InvalidArgument));
    // Unknown methods are HTTP 404, which gRPC clients report as UNIMPLEMENTED.
    assert.equal((await call("/broker.Broker/Nope", garbage))[":status"], 404);
    session.close();
    assert.equal((await grpcClient().publish({ topic: "alive" })).id, "ok alive");
  });
});

async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
