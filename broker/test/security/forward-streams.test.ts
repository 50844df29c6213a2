import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { Forwarder, forwardStreamIdleMs } from "../../src/cluster/forwarding/forwarder.js";

// Issue #19: forwarded publish streams were never evicted: one per distinct authorization header, so
// a client cycling credentials grew every node's stream table (and the leader's open streams) forever.

test("idle forwarded publish streams are closed and forgotten", async () => {
  const open = new Set<number>();
  let next = 0;
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(PublishService, {
          async publish() {
            return {};
          },
          async *publishStream(requests) {
            const id = next++;
            open.add(id);
            try {
              for await (const r of requests)
                yield { sequence: r.sequence, result: { case: "ack", value: {} } };
            } finally {
              open.delete(id);
            }
          },
        }),
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const forwarder = new Forwarder(undefined);
  try {
    for (const user of ["a", "b", "c"]) {
      const call = { signal: new AbortController().signal, hops: 0, authorization: `basic ${user}` };
      await forwarder.publish(address, call, { topic: "t" } as never);
    }
    assert.equal(forwarder.openStreams(), 3);
    assert.equal(open.size, 3);
    forwarder.sweep(Date.now() + forwardStreamIdleMs + 1);
    assert.equal(forwarder.openStreams(), 0);
    for (let i = 0; i < 50 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(open.size, 0, "the leader saw the streams end");
  } finally {
    server.close();
  }
});
