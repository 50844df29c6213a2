import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { authorizationInterceptor, connectionAuthInterceptor } from "../../src/security/auth-interceptors.js";
import type { Authenticator } from "../../src/security/authenticator.js";
import { AccessPolicy, parseAcl } from "../../src/security/authorization.js";
import { principalKey } from "../../src/security/context-keys.js";
import { requirementsFor } from "../../src/security/method-permissions.js";

const policy = new AccessPolicy(
  parseAcl(`
roles:
  - {name: writer, rules: [{actions: [publish], topics: ["orders.*"]}]}
  - {name: topic-admin, rules: [{actions: [admin], topics: ["orders.*"]}]}
users:
  - {name: alice, roles: [writer]}
  - {name: carol, roles: [topic-admin]}
  - {name: root, roles: [admin]}
`),
);

// The caller's name is the `x-user` header: authentication is not what these tests are about.
const byHeader: Authenticator = {
  async authenticate(headers) {
    return { name: headers.get("x-user") ?? "nobody", method: "basic" };
  },
};

describe("method permissions", () => {
  test("the table maps requests to actions and topics; unknown methods need cluster admin", () => {
    assert.deepEqual(requirementsFor("broker.Broker", "Publish", { topic: "a" }), [
      { anyOf: ["publish"], topic: "a" },
    ]);
    assert.deepEqual(requirementsFor("broker.Broker", "Subscribe", { topics: { a: 0n, b: 0n } }), [
      { anyOf: ["subscribe"], topic: "a" },
      { anyOf: ["subscribe"], topic: "b" },
    ]);
    assert.deepEqual(
      requirementsFor("geobroker.v1.ConsumeService", "Consume", {
        request: { case: "start", value: { topic: "t", name: "c" } },
      }),
      [
        { anyOf: ["subscribe"], topic: "t" },
        { anyOf: ["consume"], topic: "t", consumer: "c" },
      ],
    );
    // A delivery limit means dead letters: publish on the default <topic>.dlq, or the one named.
    assert.deepEqual(
      requirementsFor("geobroker.v1.ConsumeService", "CreateConsumer", {
        config: { topic: "t", name: "c", maxDeliveries: 3 },
      }),
      [
        { anyOf: ["subscribe"], topic: "t" },
        { anyOf: ["consume"], topic: "t", consumer: "c" },
        { anyOf: ["publish"], topic: "t.dlq" },
      ],
    );
    assert.deepEqual(
      requirementsFor("geobroker.v1.ConsumeService", "DeleteConsumer", { topic: "t", name: "other-team" }),
      [
        { anyOf: ["subscribe"], topic: "t" },
        { anyOf: ["consume"], topic: "t", consumer: "other-team" },
      ],
    );
    assert.deepEqual(
      requirementsFor("geobroker.v1.ConsumeService", "Consume", { request: { case: "credit" } }),
      [],
    );
    assert.deepEqual(requirementsFor("geobroker.v1.TopicService", "CreateTopic", { topic: { name: "t" } }), [
      { anyOf: ["create", "admin"], topic: "t" },
    ]);
    assert.deepEqual(requirementsFor("geobroker.v1.NewService", "Anything", {}), [{ anyOf: ["admin"] }]);
    for (const method of ["AddNode", "RemoveNode", "DrainNode", "SomeMethodAddedLater"])
      assert.deepEqual(requirementsFor("geobroker.v1.ClusterService", method, {}), [{ anyOf: ["admin"] }]);
    assert.deepEqual(requirementsFor("geobroker.v1.ClusterService", "GetClusterInfo", {}), []);
    assert.deepEqual(requirementsFor("geobroker.v1.ClusterService", "GetClusterMetrics", {}), []);
  });

  const denied: string[] = [];
  const admin: string[] = [];
  const transport = createRouterTransport(
    (router) => {
      router.service(PublishService, {
        async publish(req) {
          return { topic: req.topic };
        },
        async *publishStream(requests) {
          for await (const r of requests) yield { sequence: r.sequence };
        },
        async publishBatch(req) {
          return {
            results: req.messages.map((m) => ({ result: { case: "ack", value: { topic: m.topic } } })),
          };
        },
      });
      router.service(TopicService, {
        async createTopic(req, ctx) {
          return { topic: { name: `${req.topic?.name} by ${ctx.values.get(principalKey)?.name}` } };
        },
      });
      router.service(ClusterService, {
        async drainNode() {
          return {};
        },
      });
    },
    {
      router: {
        interceptors: [
          connectionAuthInterceptor(byHeader),
          authorizationInterceptor(policy, {
            onDenied: (p, method, reason) => denied.push(`${p.name} ${method}: ${reason}`),
            onAdmin: (p, method, topic) => admin.push(`${p.name} ${method} ${topic ?? "(cluster)"}`),
          }),
        ],
      },
    },
  );
  const as = (user: string) => ({ headers: { "x-user": user } });

  async function codeOf(call: Promise<unknown>): Promise<Code> {
    try {
      await call;
    } catch (err) {
      return ConnectError.from(err).code;
    }
    return Code.Unknown;
  }

  test("a publish stream is checked message by message and ends PERMISSION_DENIED at the first refusal", async () => {
    const client = createClient(PublishService, transport);
    async function* requests() {
      yield { sequence: 1n, request: { topic: "orders.a" } };
      yield { sequence: 2n, request: { topic: "orders.b" } };
      yield { sequence: 3n, request: { topic: "payments" } };
      yield { sequence: 4n, request: { topic: "orders.c" } };
    }
    const acked: bigint[] = [];
    const code = await codeOf(
      (async () => {
        for await (const r of client.publishStream(requests(), as("alice"))) acked.push(r.sequence);
      })(),
    );
    assert.equal(code, Code.PermissionDenied);
    assert.deepEqual(acked, [1n, 2n]);
    assert.ok(
      denied.some((d) =>
        d.includes('alice PublishStream: user "alice" is not allowed publish on topic "payments"'),
      ),
    );
  });

  test("a batch needs publish on every topic it names: one refused topic refuses the call, and a stream batch frame ends the stream", async () => {
    assert.deepEqual(
      requirementsFor("geobroker.v1.PublishService", "PublishBatch", {
        messages: [{ topic: "a" }, { topic: "b" }, { topic: "a" }],
      }),
      [
        { anyOf: ["publish"], topic: "a" },
        { anyOf: ["publish"], topic: "b" },
      ],
    );
    const client = createClient(PublishService, transport);
    const ok = await client.publishBatch(
      { messages: [{ topic: "orders.a" }, { topic: "orders.b" }] },
      as("alice"),
    );
    assert.equal(ok.results.length, 2);
    assert.equal(
      await codeOf(
        client.publishBatch({ messages: [{ topic: "orders.a" }, { topic: "payments" }] }, as("alice")),
      ),
      Code.PermissionDenied,
    );
    assert.ok(
      denied.some((d) =>
        d.includes('alice PublishBatch: user "alice" is not allowed publish on topic "payments"'),
      ),
    );
    async function* frames() {
      yield { sequence: 1n, batch: [{ topic: "orders.a" }, { topic: "orders.b" }] };
      yield { sequence: 2n, batch: [{ topic: "orders.c" }, { topic: "payments" }] };
      yield { sequence: 3n, request: { topic: "orders.d" } };
    }
    const answered: bigint[] = [];
    const code = await codeOf(
      (async () => {
        for await (const r of client.publishStream(frames(), as("alice"))) answered.push(r.sequence);
      })(),
    );
    assert.equal(code, Code.PermissionDenied);
    assert.deepEqual(answered, [1n]);
  });

  test("topic administration needs admin on the topic; cluster administration needs admin on *", async () => {
    const topics = createClient(TopicService, transport);
    const cluster = createClient(ClusterService, transport);
    assert.equal(
      await codeOf(topics.createTopic({ topic: { name: "orders.x" } }, as("alice"))),
      Code.PermissionDenied,
    );
    const made = await topics.createTopic({ topic: { name: "orders.x" } }, as("carol"));
    assert.equal(made.topic?.name, "orders.x by carol");
    assert.equal(
      await codeOf(topics.createTopic({ topic: { name: "payments" } }, as("carol"))),
      Code.PermissionDenied,
    );
    assert.equal(await codeOf(cluster.drainNode({}, as("carol"))), Code.PermissionDenied);
    await cluster.drainNode({}, as("root"));
    assert.deepEqual(admin, ["carol CreateTopic orders.x", "root DrainNode (cluster)"]);
  });
});
