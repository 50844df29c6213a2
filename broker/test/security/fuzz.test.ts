import assert from "node:assert/strict";
import http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { defaultInputLimits } from "../../src/engine/limits.js";
import { type FuzzRequest, fuzzRequest, grpcFrame, Rng, templates } from "./fuzz-cases.js";
import { type LiveNode, startLiveNode } from "./live-node.js";

// Hostile input against a live node for a bounded time: broken gRPC framing, protobuf and headers,
// unknown methods, oversized and never-finished bodies, raw garbage on the socket, connection floods.
// The node must stay up, answer every gRPC request with a status before a deadline, and still serve a
// valid publish afterwards. Replay a failure with GEOBROKER_FUZZ_SEED=<seed>; run longer with
// GEOBROKER_FUZZ_SECONDS=<n>.

const seed = Number(process.env.GEOBROKER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const seconds = Number(process.env.GEOBROKER_FUZZ_SECONDS ?? 20);
const workers = 6;
const deadlineMs = 6_000;
const requestBodyMs = 2_000;
const maxSessionsPerAddress = 24;
const password = "fuzz-password-1";
const auth = `basic ${Buffer.from(`fuzzer:${password}`).toString("base64")}`;
const topic = "fuzz";

interface Outcome {
  kind: string;
  http?: number;
  grpcStatus?: string;
  reset?: number;
  error?: string;
  timedOut?: boolean;
}

// What a gRPC client makes of a response without grpc-status (the gRPC HTTP-to-status mapping):
// these HTTP statuses are answers, not protocol failures.
const mappedHttpStatuses = new Set([400, 401, 403, 404, 405, 408, 413, 415, 429, 431, 502, 503, 504]);

// RST_STREAM codes with a status in the gRPC HTTP/2 mapping (ENHANCE_YOUR_CALM = RESOURCE_EXHAUSTED,
// REFUSED_STREAM = UNAVAILABLE, ...): node's HTTP/2 layer closes a session that keeps sending data
// for streams already answered (maxSessionInvalidFrames), which the oversized cases do.
const mappedResetCodes = new Set([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]);

function proper(o: Outcome): boolean {
  if (o.timedOut) return false;
  if (o.grpcStatus !== undefined) return /^([0-9]|1[0-6])$/.test(o.grpcStatus);
  if (o.http !== undefined) return o.http !== 200 && mappedHttpStatuses.has(o.http);
  return o.reset !== undefined && mappedResetCodes.has(o.reset);
}

let node: LiveNode;
const sessions: http2.ClientHttp2Session[] = [];

function session(i: number): http2.ClientHttp2Session {
  const s = sessions[i];
  if (s && !s.closed && !s.destroyed) return s;
  const fresh = http2.connect(`http://127.0.0.1:${node.clientPort}`);
  fresh.on("error", () => {});
  sessions[i] = fresh;
  return fresh;
}

function send(s: http2.ClientHttp2Session, r: FuzzRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { kind: r.kind };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      stream.close(http2.constants.NGHTTP2_CANCEL);
      finish();
    }, deadlineMs);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = s.request({ ":method": "POST", ":path": r.path, ...r.headers });
    } catch (err) {
      outcome.error = (err as Error).message;
      clearTimeout(timer);
      resolve(outcome);
      return;
    }
    stream.on("response", (headers) => {
      outcome.http = Number(headers[":status"]);
      if (headers["grpc-status"] !== undefined) outcome.grpcStatus = String(headers["grpc-status"]);
    });
    stream.on("trailers", (trailers) => {
      if (trailers["grpc-status"] !== undefined) outcome.grpcStatus = String(trailers["grpc-status"]);
    });
    stream.on("data", () => {});
    stream.on("error", (err) => {
      outcome.error = err.message;
    });
    stream.on("close", () => {
      if (outcome.http === undefined && outcome.grpcStatus === undefined) outcome.reset = stream.rstCode;
      finish();
    });
    // As a gRPC client does: the call is over when the server ends its side (trailers); a request
    // body still being sent (oversized, never-ending) is then cancelled by the client.
    stream.on("end", () => {
      finish();
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    if (r.endStream) stream.end(r.body);
    else stream.write(r.body);
  });
}

/** Garbage on a raw TCP connection: with and without the HTTP/2 preface. Must not hurt the node. */
function rawGarbage(rng: Rng): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect(node.clientPort, "127.0.0.1");
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.on("error", done);
    socket.on("close", done);
    socket.on("connect", () => {
      const preface = rng.chance(0.5) ? Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") : Buffer.alloc(0);
      socket.write(Buffer.concat([preface, rng.bytes(rng.int(4096))]));
    });
    setTimeout(done, 1_000).unref();
  });
}

/** More sessions than the per-address limit at once, each with one valid publish. */
async function flood(): Promise<Outcome[]> {
  const many = Array.from({ length: maxSessionsPerAddress + 16 }, () => {
    const s = http2.connect(`http://127.0.0.1:${node.clientPort}`);
    s.on("error", () => {});
    return s;
  });
  const valid = templates(topic)[0]!;
  const outcomes = await Promise.all(
    many.map((s) =>
      send(s, {
        kind: "flood",
        path: valid.path,
        headers: { "content-type": "application/grpc+proto", te: "trailers", authorization: auth },
        body: grpcFrame(valid.body),
        endStream: true,
      }),
    ),
  );
  for (const s of many) s.destroy();
  return outcomes;
}

before(async () => {
  node = await startLiveNode({
    users: { fuzzer: password },
    config: {
      autoCreateTopics: false,
      auth: { modes: ["basic"] },
      limits: { connections: { maxSessionsPerAddress, requestBodyMs, idleSessionMs: 20_000 } },
    },
  });
});

after(async () => {
  for (const s of sessions) s.destroy();
  await node?.stop();
});

test(`fuzz: the node survives ${seconds} s of hostile input (seed ${seed})`, async (t) => {
  const replay = `replay with GEOBROKER_FUZZ_SEED=${seed} GEOBROKER_FUZZ_SECONDS=${seconds}`;
  console.log(`fuzz seed ${seed}: ${replay}`);
  t.diagnostic(`fuzz seed ${seed}`);
  const clientTransport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${node.clientPort}` });
  const headers = { authorization: auth };
  await createClient(TopicService, clientTransport).createTopic(
    { topic: { name: topic, partitions: 1 } },
    { headers },
  );

  const outcomes: Outcome[] = [];
  const stopAt = Date.now() + seconds * 1000;
  let rawConnections = 0;
  const worker = async (w: number) => {
    const rng = new Rng(seed + w * 7919);
    while (Date.now() < stopAt) {
      if (rng.chance(0.08)) {
        rawConnections++;
        await rawGarbage(rng);
        continue;
      }
      const request = fuzzRequest(rng, topic, auth, { maxMessageBytes: defaultInputLimits.maxMessageBytes });
      outcomes.push(await send(session(w % 3), request));
    }
  };
  const floods: Outcome[][] = [];
  await Promise.all([
    ...Array.from({ length: workers }, (_, w) => worker(w)),
    (async () => {
      // Twice during the run: the limit must hold while everything else goes on.
      for (const at of [0.3, 0.7]) {
        await new Promise((r) => setTimeout(r, Math.max(0, stopAt - Date.now() - seconds * 1000 * (1 - at))));
        floods.push(await flood());
      }
    })(),
  ]);

  const summary = new Map<string, number>();
  for (const o of outcomes) {
    const what = `${o.kind} -> ${o.timedOut ? "TIMEOUT" : o.grpcStatus !== undefined ? `grpc ${o.grpcStatus}` : o.http !== undefined ? `http ${o.http}` : `reset ${o.reset} ${o.error ?? ""}`}`;
    summary.set(what, (summary.get(what) ?? 0) + 1);
  }
  const lines = [...summary].sort().map(([k, n]) => `${k}: ${n}`);
  console.log(
    `fuzz: ${outcomes.length} requests, ${rawConnections} raw connections\n  ${lines.join("\n  ")}`,
  );

  assert.ok(node.alive(), `the node died (${replay}):\n${node.log.slice(-20).join("\n")}`);
  assert.ok(outcomes.length > 50, "the fuzzer ran");
  const bad = outcomes.filter((o) => !proper(o));
  assert.deepEqual(
    bad.slice(0, 10),
    [],
    `${bad.length} requests got no proper gRPC status within ${deadlineMs} ms (${replay})`,
  );
  for (const f of floods) {
    const exhausted = f.filter((o) => o.grpcStatus === String(Code.ResourceExhausted)).length;
    assert.ok(exhausted >= 16, `sessions over the limit get RESOURCE_EXHAUSTED (got ${exhausted})`);
    assert.deepEqual(
      f.filter((o) => !proper(o)),
      [],
      "every flood call is answered with a status",
    );
  }
  assert.ok(
    outcomes.some((o) => o.kind === "slow-body" && o.grpcStatus === String(Code.DeadlineExceeded)) ||
      !outcomes.some((o) => o.kind === "slow-body"),
    "a body that never ends is answered DEADLINE_EXCEEDED",
  );

  // Still serving: a valid publish, and the topic is intact.
  const res = await createClient(PublishService, clientTransport).publish(
    { topic, body: new TextEncoder().encode("after the storm") },
    { headers, timeoutMs: 10_000 },
  );
  assert.equal(res.topic, topic);
  const unauthenticated = await createClient(PublishService, clientTransport)
    .publish({ topic, body: new Uint8Array() }, { headers: { authorization: "basic eDp5" } })
    .then(
      () => undefined,
      (err) => ConnectError.from(err).code,
    );
  assert.equal(unauthenticated, Code.Unauthenticated, "authentication still holds");
});
