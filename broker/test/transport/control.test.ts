import assert from "node:assert/strict";
import http2 from "node:http2";
import { test } from "node:test";
import { ControlRequestSchema, ControlResponseSchema } from "../../../gen/geobroker/raft/v1/raft_pb.js";
import {
  ControlError,
  decodeInternal,
  encodeInternal,
  type InternalReply,
  type InternalRequest,
  isLegacyJson,
  leaderHintOf,
} from "../../src/cluster/peers/internal-requests.js";
import { notLeader } from "../../src/engine/errors.js";
import { FrameReader, frame } from "../../src/transport/framing.js";
import { loopbackTransport } from "../support/loopback-transport.js";
import { freePort } from "../support/process-cluster.js";

// The Control rpc (raft.proto) and its JSON predecessor (docs/decisions/0026): both ways during a
// rolling update.

const requests: InternalRequest[] = [
  { type: "propose", command: { type: "deleteTopic", name: "orders" } },
  { type: "view" },
  { type: "transferLeadership", groupId: 7, to: "eu-2" },
  { type: "confChange", groupId: 0, change: { type: "addLearner", nodeId: "eu-3", incarnation: "9f3c" } },
  { type: "confChange", groupId: 4, change: { type: "remove", nodeId: "eu-1" } },
  { type: "formation" },
  { type: "metrics" },
];
const replies: InternalReply[] = [
  { type: "proposed", result: { ok: true } },
  {
    type: "view",
    view: {
      nodeId: "eu-0",
      groups: [
        {
          groupId: 3,
          leader: "eu-0",
          term: 4,
          commit: 10,
          applied: 9,
          lastIndex: 11,
          conf: {
            voters: ["eu-0", "eu-1"],
            learners: ["eu-2"],
            votersOutgoing: [],
            incarnations: { "eu-2": "ab" },
          },
          members: [{ nodeId: "eu-1", learner: false, match: 10 }],
        },
        {
          groupId: 0,
          leader: "",
          term: 0,
          commit: 0,
          applied: 0,
          lastIndex: 0,
          conf: { voters: [], learners: [], votersOutgoing: [] },
          members: [],
        },
      ],
      connected: ["eu-1"],
      incarnation: "77",
      rejoining: false,
    },
  },
  { type: "view", view: { nodeId: "eu-9", groups: [], connected: [] } },
  { type: "transferred", leader: "eu-2" },
  { type: "confChanged" },
  { type: "formation", formed: true },
  { type: "formation", formed: false },
  {
    type: "metrics",
    metrics: {
      nodeId: "us-0",
      region: "us",
      atMs: 1_790_000_000_123,
      publishedMessages: 42,
      publishedBytes: 4200,
      deliveredMessages: 84,
      publishCommit: { bounds: [0.001, 0.01], counts: [40, 42], count: 42, sum: 0.125 },
      deliverLag: { bounds: [0.001, 0.01], counts: [0, 80], count: 84, sum: 1.5 },
    },
  },
];

test("every internal request and reply round-trips as a Control message, which never looks like JSON", () => {
  for (const value of [...requests, ...replies]) {
    const bytes = encodeInternal(value);
    assert.ok(!isLegacyJson(bytes), `${value.type} starts with "{"`);
    assert.deepEqual(decodeInternal(bytes), value);
  }
  // decodeInternal tells a request from a reply by field number: the two oneofs share none.
  const numbers = (fields: readonly { number: number }[]) => fields.map((f) => f.number);
  const req = numbers(ControlRequestSchema.fields);
  const res = numbers(ControlResponseSchema.fields);
  assert.deepEqual(
    req.filter((n) => res.includes(n)),
    [],
  );
  assert.ok(!req.includes(15), "field 15 would let a request start with 0x7B");
});

test("a failure travels as a typed ControlError: reason, leader hint as a field, the old text kept", async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const peers = new Map([
    ["a", `127.0.0.1:${pa}`],
    ["b", `127.0.0.1:${pb}`],
  ]);
  const a = loopbackTransport("a", pa, peers);
  const b = loopbackTransport("b", pb, peers);
  const seen: Uint8Array[] = [];
  b.onControl(async (request) => {
    seen.push(request);
    const r = decodeInternal<InternalRequest>(request);
    if (r.type === "transferLeadership") throw notLeader(`group ${r.groupId}`, { nodeId: "c" });
    if (r.type === "formation") throw new Error("starting");
    return encodeInternal({ type: "transferred", leader: "b" });
  });
  await a.start();
  await b.start();
  try {
    const ask = async (request: InternalRequest) =>
      decodeInternal<InternalReply>(await a.call("b", encodeInternal(request)));
    // Repeated: the first calls may go out as JSON before b's headers said it speaks protobuf.
    for (let i = 0; i < 3; i++) {
      await assert.rejects(ask({ type: "transferLeadership", groupId: 3, to: "x" }), (err: Error) => {
        assert.ok(err instanceof ControlError);
        assert.equal(err.reason, "notLeader");
        assert.equal(err.leaderHint, "c");
        assert.equal(leaderHintOf(new Error("wrapped", { cause: err })), "c");
        assert.equal(err.message, "this node is not the leader of group 3 (leader: c)");
        return true;
      });
      await assert.rejects(ask({ type: "formation" }), (err: Error) => {
        assert.ok(err instanceof ControlError && err.reason === "failed" && err.leaderHint === undefined);
        assert.equal(err.message, "starting");
        return true;
      });
      assert.deepEqual(await ask({ type: "view" }), { type: "transferred", leader: "b" });
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(
      seen.every((r) => !isLegacyJson(r)),
      "the handler always sees Control messages",
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

/** A peer port as a build before decision 0026 served it: JSON on Control, no format header. */
async function oldBuildPeer(port: number, answer: (request: InternalRequest) => InternalReply) {
  const received: string[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    if (headers[":path"] !== "/geobroker.raft.v1.PeerService/Control") {
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
      stream.on("data", () => {});
      return;
    }
    const reader = new FrameReader();
    let body: Uint8Array | undefined;
    stream.on("data", (chunk: Buffer) => {
      for (const p of reader.push(chunk)) body = p;
    });
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      let trailers: Record<string, string> = { "grpc-status": "0" };
      let out: Uint8Array | undefined;
      try {
        const text = new TextDecoder().decode(body);
        received.push(text);
        out = new TextEncoder().encode(JSON.stringify(answer(JSON.parse(text) as InternalRequest)));
      } catch (err) {
        trailers = { "grpc-status": "9", "grpc-message": encodeURIComponent((err as Error).message) };
      }
      stream.on("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end(out ? frame(out) : undefined);
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test("to a peer of an older build the request goes as JSON, and its answers and failure texts come back typed", async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const peers = new Map([
    ["a", `127.0.0.1:${pa}`],
    ["b", `127.0.0.1:${pb}`],
  ]);
  const old = await oldBuildPeer(pb, (r) => {
    if (r.type === "transferLeadership") throw new Error(`not the leader of group ${r.groupId} (leader: c)`);
    if (r.type === "confChange") throw new Error(`not the leader of group ${r.groupId} (leader: unknown)`);
    return { type: "formation", formed: true };
  });
  const a = loopbackTransport("a", pa, peers);
  await a.start();
  try {
    const ask = async (request: InternalRequest) =>
      decodeInternal<InternalReply>(await a.call("b", encodeInternal(request)));
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await ask({ type: "formation" }), { type: "formation", formed: true });
      await assert.rejects(ask({ type: "transferLeadership", groupId: 3, to: "x" }), (err: Error) => {
        assert.ok(err instanceof ControlError && err.reason === "notLeader" && err.leaderHint === "c");
        assert.equal(err.message, "not the leader of group 3 (leader: c)");
        return true;
      });
      await assert.rejects(ask(requests[3]!), (err: Error) => leaderHintOf(err) === undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(old.received.length >= 9);
    assert.equal(a.stats().get("b")?.controlProto, false);
    for (const text of old.received) assert.ok(JSON.parse(text).type, "the old build got JSON it reads");
    assert.deepEqual(JSON.parse(old.received[0]!), { type: "formation" });
  } finally {
    await a.stop();
    await old.close();
  }
});

test("from a peer of an older build, a JSON request is answered in JSON, a failure as text with the hint it parses", async () => {
  const port = await freePort();
  const b = loopbackTransport("b", port, new Map());
  b.onControl(async (request) => {
    const r = decodeInternal<InternalRequest>(request);
    if (r.type === "propose") throw notLeader("the metadata group", { nodeId: "eu-4" });
    return encodeInternal({ type: "view", view: { nodeId: "b", groups: [], connected: [] } });
  });
  await b.start();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const call = (json: unknown) =>
    new Promise<{ status: string; message: string; body: unknown }>((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/geobroker.raft.v1.PeerService/Control",
        "content-type": "application/grpc+proto",
        te: "trailers",
      });
      const reader = new FrameReader();
      let body: Uint8Array | undefined;
      stream.on("data", (c: Buffer) => {
        for (const p of reader.push(c)) body = p;
      });
      stream.on("trailers", (t) =>
        resolve({
          status: String(t["grpc-status"]),
          message: decodeURIComponent(String(t["grpc-message"] ?? "")),
          body: body ? JSON.parse(new TextDecoder().decode(body)) : undefined,
        }),
      );
      stream.on("error", reject);
      stream.end(frame(new TextEncoder().encode(JSON.stringify(json))));
    });
  try {
    assert.deepEqual(await call({ type: "view" }), {
      status: "0",
      message: "",
      body: { type: "view", view: { nodeId: "b", groups: [], connected: [] } },
    });
    const refused = await call({ type: "propose", command: { type: "deleteTopic", name: "t" } });
    assert.equal(refused.status, "9");
    assert.equal(
      /leader: ([^)]+)\)/.exec(refused.message)?.[1],
      "eu-4",
      "the old build's regex still finds it",
    );
  } finally {
    session.close();
    await b.stop();
  }
});
