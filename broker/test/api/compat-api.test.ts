import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { type ClientServer, startClientServer } from "../../src/api/client-server.js";
import { defaultInputLimits } from "../../src/engine/limits.js";
import { NodeMetrics } from "../../src/observability/metrics.js";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import { hashPassword } from "../../src/security/passwords.js";
import { projectRoot } from "../../src/util/project-root.js";
import { MemoryEngine } from "../support/memory-engine.js";

// An old client of the original system: nothing but proto/broker/broker.proto and @grpc/grpc-js.
type OldClient = grpc.Client & {
  Publish(
    req: object,
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res: { id: string }) => void,
  ): void;
  Subscribe(
    req: object,
    md: grpc.Metadata,
  ): grpc.ClientReadableStream<{ id: string; timestamp: string; topic: string; body: Buffer }>;
};

let server: ClientServer;
let client: OldClient;
const engine = new MemoryEngine();

const credentials = (user: string, password: string) => {
  const md = new grpc.Metadata();
  md.set("authorization", `basic ${Buffer.from(`${user}:${password}`).toString("base64")}`);
  return md;
};
const good = () => credentials("alice", "s3cret");

const publish = (topic: string, body: string, md = good()) =>
  new Promise<{ id: string }>((resolve, reject) =>
    client.Publish({ topic, body: Buffer.from(body) }, md, (err, res) => (err ? reject(err) : resolve(res))),
  );

before(async () => {
  server = await startClientServer({
    host: "127.0.0.1",
    port: 0,
    engine,
    limits: { ...defaultInputLimits, maxMessageBytes: 1024 },
    authenticator: new BasicAuthenticator([{ name: "alice", passwordHash: await hashPassword("s3cret") }]),
    health: { live: () => true, ready: () => ({ ready: true, reason: "" }) },
    observer: new NodeMetrics({ node: "test-0" }),
  });
  const definition = await protoLoader.load(join(projectRoot(), "proto", "broker", "broker.proto"));
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    broker: { Broker: new (address: string, creds: grpc.ChannelCredentials) => OldClient };
  };
  client = new pkg.broker.Broker(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});

after(async () => {
  client.close();
  await server.close();
});

test("Publish answers with an id and Subscribe replays from the start timestamp, in order", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await publish("orders", `m${i}`)).id);
  assert.equal(new Set(ids).size, 5, "ids are unique");
  const stream = client.Subscribe({ topics: { orders: 0 } }, good());
  const got: string[] = [];
  for await (const m of stream) {
    got.push(m.body.toString());
    assert.equal(m.topic, "orders");
    if (got.length === 5) break;
  }
  stream.cancel();
  assert.deepEqual(got, ["m0", "m1", "m2", "m3", "m4"]);
});

test("Subscribe streams live messages after the replay, and a start timestamp skips older ones", async () => {
  const first = await publish("live", "old");
  assert.ok(first.id);
  const stream = client.Subscribe({ topics: { live: Number.MAX_SAFE_INTEGER } }, good());
  const got: string[] = [];
  const done = (async () => {
    for await (const m of stream) {
      got.push(m.body.toString());
      if (got.length === 2) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  await publish("live", "new1");
  await publish("live", "new2");
  await done;
  stream.cancel();
  assert.deepEqual(got, ["new1", "new2"]);
});

test("a wrong password is UNAUTHENTICATED, and so is a missing header", async () => {
  await assert.rejects(publish("orders", "x", credentials("alice", "wrong")), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    return true;
  });
  await assert.rejects(publish("orders", "x", new grpc.Metadata()), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.match(err.details, /missing credentials/);
    return true;
  });
});

test("bad input is INVALID_ARGUMENT with a message that says what to fix", async () => {
  await assert.rejects(publish("bad topic!", "x"), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /1-249 characters/);
    return true;
  });
  await assert.rejects(publish("orders", "x".repeat(2000)), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /limit is 1024/);
    return true;
  });
});
