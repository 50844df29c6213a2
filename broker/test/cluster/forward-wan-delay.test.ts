import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { Forwarder } from "../../src/cluster/forwarding/forwarder.js";
import { delayed, wanDelayTo } from "../../src/cluster/forwarding/wan-delay.js";
import { systemClock } from "../../src/util/clock.js";

// Issue 23: the simulated WAN (--wan-delay) delayed Raft links only; a publish forwarded from ap to
// an eu leader crossed no delay, so the geo profile flattered forwarded calls (acked in less than
// the two WAN crossings it needs). Forwarded calls now wait the one-way delay in each direction.

const oneWayMs = 60;
const config = {
  peers: [
    { id: "eu-0", region: "eu", zone: "", peerAddress: "x:1", clientAddress: "127.0.0.1:0" },
    { id: "us-0", region: "us", zone: "", peerAddress: "x:2", clientAddress: "10.0.0.2:7000" },
  ],
  wanDelayMs: { eu: oneWayMs },
};

describe("forwarded calls cross the simulated WAN", () => {
  let server: http2.Http2Server;
  let address: string;
  const sessions = new Set<http2.ServerHttp2Session>();
  const arrivals: number[] = [];
  before(async () => {
    server = http2.createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(PublishService, {
            async publish(r) {
              return { topic: r.topic, offset: 7n };
            },
            async *publishStream(requests) {
              for await (const r of requests) {
                arrivals.push(performance.now());
                yield { sequence: r.sequence, result: { case: "ack", value: { offset: r.sequence } } };
              }
            },
          }),
      }),
    );
    server.on("session", (s) => sessions.add(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    config.peers[0]!.clientAddress = address;
  });
  after(() => {
    // The forwarder keeps its connection for reuse: end it from the server side.
    for (const s of sessions) s.destroy();
    server.close();
  });

  test("the delay to a client address is the one of its node's region", () => {
    const to = wanDelayTo(config);
    assert.equal(to(address), oneWayMs);
    assert.equal(to("10.0.0.2:7000"), 0, "no delay configured towards us");
    assert.equal(to("10.9.9.9:1"), 0, "an unknown address");
  });

  test("a forwarded unary call and a forwarded stream publish each take a round trip of the delay", async () => {
    const forwarder = new Forwarder(undefined, undefined, systemClock, wanDelayTo(config));
    const client = forwarder.to(address).publish;
    await client.publish({ topic: "warm" }); // the connection is set up outside the timing
    let t = performance.now();
    const res = await client.publish({ topic: "t" });
    const unaryMs = performance.now() - t;
    assert.equal(res.offset, 7n);
    assert.ok(unaryMs >= 2 * oneWayMs - 2, `unary call took ${unaryMs.toFixed(1)} ms, less than the RTT`);

    const call = { signal: new AbortController().signal, hops: 0, authorization: "basic a" };
    await forwarder.publish(address, call, { topic: "warm" } as never);
    t = performance.now();
    // Ten pipelined publishes: each waits one RTT, not ten RTTs in a row.
    await Promise.all(
      Array.from({ length: 10 }, () => forwarder.publish(address, call, { topic: "t" } as never)),
    );
    const streamMs = performance.now() - t;
    assert.ok(
      streamMs >= 2 * oneWayMs - 2,
      `stream publishes took ${streamMs.toFixed(1)} ms, less than the RTT`,
    );
    assert.ok(
      streamMs < 6 * oneWayMs,
      `stream publishes took ${streamMs.toFixed(1)} ms: delayed one after another`,
    );
  });

  test("delayed() keeps order and spacing, and passes the source's end and error on", async () => {
    async function* source() {
      yield 1;
      yield 2;
      throw new Error("broken");
    }
    const got: number[] = [];
    const t = performance.now();
    await assert.rejects(async () => {
      for await (const v of delayed(source(), 30, systemClock)) got.push(v);
    }, /broken/);
    assert.deepEqual(got, [1, 2]);
    assert.ok(performance.now() - t >= 28);
  });
});
