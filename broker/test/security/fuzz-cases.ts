import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { PublishRequestSchema as CompatPublishSchema } from "../../../gen/broker/broker_pb.js";
import { GetClusterInfoRequestSchema } from "../../../gen/geobroker/v1/cluster_pb.js";
import { GetConsumerRequestSchema } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishRequestSchema } from "../../../gen/geobroker/v1/publish_pb.js";
import { GetTopicRequestSchema } from "../../../gen/geobroker/v1/topic_pb.js";

// Inputs for the fuzz test: a seeded generator (so a failure is replayed from its seed) and the
// ways a request is broken. Pure: no sockets here.

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A gRPC length-prefixed message. */
export function grpcFrame(payload: Uint8Array, compressed = false, length = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, payload]);
}

export interface FuzzRequest {
  /** What kind of damage, for the report. */
  kind: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** False: the request body is never finished (slowloris); the server must time it out. */
  endStream: boolean;
}

interface Template {
  path: string;
  body: Uint8Array;
}

function encoded<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

/** Valid unary requests that neither create nor delete anything outside the `fuzz` topic. */
export function templates(topic: string): Template[] {
  return [
    {
      path: "/geobroker.v1.PublishService/Publish",
      body: encoded(PublishRequestSchema, {
        topic,
        key: new TextEncoder().encode("k"),
        body: new TextEncoder().encode("hello"),
        headers: { a: "b" },
      }),
    },
    {
      path: "/broker.Broker/Publish",
      body: encoded(CompatPublishSchema, { topic, body: new TextEncoder().encode("compat") }),
    },
    { path: "/geobroker.v1.TopicService/GetTopic", body: encoded(GetTopicRequestSchema, { name: topic }) },
    { path: "/geobroker.v1.ClusterService/GetClusterInfo", body: encoded(GetClusterInfoRequestSchema, {}) },
    {
      path: "/geobroker.v1.ConsumeService/GetConsumer",
      body: encoded(GetConsumerRequestSchema, { topic, name: "c" }),
    },
  ];
}

function mutateBytes(rng: Rng, input: Uint8Array): Buffer {
  const b = Buffer.from(input);
  switch (rng.int(5)) {
    case 0: {
      // flip a few bits
      for (let i = 0, n = 1 + rng.int(4); i < n && b.length > 0; i++)
        b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b;
    }
    case 1:
      return b.subarray(0, rng.int(b.length + 1)); // truncate
    case 2: {
      const at = rng.int(b.length + 1); // insert random bytes
      return Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(16)), b.subarray(at)]);
    }
    case 3:
      return Buffer.concat([b, rng.bytes(1 + rng.int(64))]); // trailing garbage
    default:
      return rng.bytes(rng.int(200)); // all random
  }
}

export interface FuzzLimits {
  maxMessageBytes: number;
}

/** One broken (or occasionally valid) request, chosen by the generator. */
export function fuzzRequest(rng: Rng, topic: string, auth: string, limits: FuzzLimits): FuzzRequest {
  const t = rng.pick(templates(topic));
  const headers: Record<string, string> = {
    "content-type": "application/grpc+proto",
    te: "trailers",
    authorization: auth,
  };
  const base = { path: t.path, headers, endStream: true };
  switch (rng.int(10)) {
    case 0:
      return { ...base, kind: "valid", body: grpcFrame(t.body) };
    case 1:
    case 2:
      return { ...base, kind: "protobuf", body: grpcFrame(mutateBytes(rng, t.body)) };
    case 3: {
      // framing: a wrong length prefix, the compressed flag without an encoding, or a cut frame
      const frame = grpcFrame(t.body);
      const which = rng.int(4);
      if (which === 0)
        return { ...base, kind: "frame-length", body: grpcFrame(t.body, false, rng.int(2 ** 31)) };
      if (which === 1) return { ...base, kind: "frame-compressed", body: grpcFrame(t.body, true) };
      if (which === 2) return { ...base, kind: "frame-cut", body: frame.subarray(0, rng.int(frame.length)) };
      return { ...base, kind: "frame-two", body: Buffer.concat([frame, frame]) };
    }
    case 4: {
      const h = { ...headers };
      switch (rng.int(7)) {
        case 0:
          h["content-type"] = rng.pick(["text/plain", "application/json", "application/grpc+json", "x"]);
          break;
        case 1:
          h.authorization = rng.pick([
            "",
            "basic",
            "basic !!!",
            `basic ${rng.bytes(30).toString("base64")}`,
            `bearer ${rng.bytes(40).toString("base64url")}.x.y`,
            "digest abc",
          ]);
          break;
        case 2:
          h["grpc-encoding"] = rng.pick(["gzip", "br", "snappy", "%%%"]);
          break;
        case 3:
          h["grpc-timeout"] = rng.pick(["1n", "99999999999H", "-1S", "abc", "1S"]);
          break;
        case 4:
          h[`x-fuzz-${rng.int(1000)}`] = "v".repeat(rng.int(8000));
          break;
        case 5:
          delete h.te;
          break;
        default:
          h["grpc-accept-encoding"] = rng.bytes(20).toString("hex");
      }
      return { ...base, headers: h, kind: "headers", body: grpcFrame(t.body) };
    }
    case 5: {
      const path = rng.pick([
        "/geobroker.v1.PublishService/Nope",
        "/nope.Service/Method",
        "/",
        `/${rng.bytes(12).toString("hex")}`,
        "/geobroker.v1.PublishService/",
        "/geobroker.raft.v1.PeerService/Stream",
      ]);
      return { ...base, path, kind: "unknown-method", body: grpcFrame(t.body) };
    }
    case 6: {
      const size = limits.maxMessageBytes + 1 + rng.int(limits.maxMessageBytes);
      return { ...base, kind: "oversized", body: grpcFrame(rng.bytes(size)) };
    }
    case 7:
      // a body that never ends: the request body timeout must answer
      return { ...base, kind: "slow-body", body: grpcFrame(t.body).subarray(0, 3), endStream: false };
    default:
      return { ...base, kind: "random-body", body: rng.bytes(rng.int(300)) };
  }
}
