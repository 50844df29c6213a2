import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify } from "yaml";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { basicHeader } from "./hostile-client.js";
import { codeOf, startProductionNode } from "./hostile-setup.js";
import type { LiveNode } from "./live-node.js";
import { makePki, type Pki } from "./tls-fixtures.js";

// Issue #19, the ACL gaps: dead-letter topics, auto-create, another team's durable consumers, the
// client-settable hop header. A live node with TLS on both ports and an ACL in force.

const passwords = { billing: "billing-password-1", shipping: "shipping-password-1", ops: "ops-password-1" };
const acl = {
  roles: [
    {
      name: "billing",
      rules: [
        { actions: ["publish", "subscribe"], topics: ["orders", "billing.*"] },
        { actions: ["consume"], topics: ["orders"], consumers: ["billing-*"] },
        { actions: ["create"], topics: ["billing.*"] },
      ],
    },
    {
      name: "shipping",
      rules: [
        { actions: ["subscribe"], topics: ["orders"] },
        { actions: ["consume"], topics: ["orders"], consumers: ["shipping-*"] },
      ],
    },
  ],
  users: [
    { name: "billing", roles: ["billing"] },
    { name: "shipping", roles: ["shipping"] },
    { name: "ops", roles: ["admin"] },
  ],
};

describe("hostile input: ACL gaps (live node, TLS, ACL)", () => {
  let pki: Pki;
  let node: LiveNode;
  let clients: ReturnType<typeof clientsFor>;
  const as = (user: keyof typeof passwords) => ({
    headers: { authorization: basicHeader(user, passwords[user]) },
    timeoutMs: 15_000,
  });

  function clientsFor() {
    const transport = createGrpcTransport({
      baseUrl: `https://127.0.0.1:${node.clientPort}`,
      nodeOptions: { ca: pki.ca.cert },
    });
    return {
      topics: createClient(TopicService, transport),
      publish: createClient(PublishService, transport),
      consume: createClient(ConsumeService, transport),
      compat: createClient(Broker, transport),
    };
  }

  before(async () => {
    pki = makePki();
    writeFileSync(join(pki.dir, "acl.yaml"), stringify(acl));
    node = await startProductionNode(pki, passwords, {
      modes: ["basic"],
      aclFile: join(pki.dir, "acl.yaml"),
    });
    clients = clientsFor();
    await clients.topics.createTopic({ topic: { name: "orders" } }, as("ops"));
  });
  after(async () => node?.stop());

  const consumerStart = (config: Record<string, unknown>) => {
    async function* requests() {
      yield { request: { case: "start" as const, value: { topic: "orders", ...config } } };
      await new Promise((r) => setTimeout(r, 60_000));
    }
    return requests();
  };
  async function consumeCode(user: keyof typeof passwords, config: Record<string, unknown>) {
    const ac = new AbortController();
    try {
      for await (const res of clients.consume.consume(consumerStart(config), {
        ...as(user),
        signal: ac.signal,
      })) {
        if (res.response.case === "started") return "ok";
      }
      return "ended";
    } catch (err) {
      return ConnectError.from(err).code;
    } finally {
      ac.abort();
    }
  }

  test("a dead-letter topic needs publish: explicit, and the default <topic>.dlq", async () => {
    assert.equal(
      await consumeCode("billing", { name: "billing-a", maxDeliveries: 3, deadLetterTopic: "payroll" }),
      Code.PermissionDenied,
    );
    assert.equal(
      await consumeCode("billing", { name: "billing-b", maxDeliveries: 3 }),
      Code.PermissionDenied,
    );
    assert.equal(
      await codeOf(
        clients.consume.createConsumer(
          { config: { name: "billing-c", topic: "orders", maxDeliveries: 2, deadLetterTopic: "payroll" } },
          as("billing"),
        ),
      ),
      Code.PermissionDenied,
    );
    // Allowed: a dead-letter topic billing may publish to (it must exist: dead letters create nothing).
    await clients.topics.createTopic({ topic: { name: "billing.dlq" } }, as("ops"));
    assert.equal(
      await consumeCode("billing", { name: "billing-d", maxDeliveries: 3, deadLetterTopic: "billing.dlq" }),
      "ok",
    );
  });

  test("publishing to a missing topic creates it only with the create permission", async () => {
    const body = new TextEncoder().encode("x");
    // billing may publish to orders.* ... but has create only on billing.*
    assert.equal(await codeOf(clients.publish.publish({ topic: "orders", body }, as("billing"))), "ok");
    assert.equal(
      await codeOf(clients.compat.publish({ topic: "billing.new", body }, as("billing"))),
      "ok",
      "create on billing.* lets a publish create billing.new",
    );
    await clients.topics.getTopic({ name: "billing.new" }, as("ops"));
    const aclWithout = structuredClone(acl);
    aclWithout.roles[0]!.rules = aclWithout.roles[0]!.rules.filter((r) => !r.actions.includes("create"));
    writeFileSync(join(node.dir, "acl.yaml"), stringify(aclWithout));
    let code: Code | "ok" = "ok";
    for (let i = 0; i < 100 && code === "ok"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      code = await codeOf(clients.compat.publish({ topic: `billing.other${i}`, body }, as("billing")));
    }
    assert.equal(code, Code.PermissionDenied);
    assert.equal(
      await codeOf(clients.topics.getTopic({ name: "billing.other99" }, as("ops"))),
      Code.NotFound,
    );
    writeFileSync(join(node.dir, "acl.yaml"), stringify(acl));
  });

  test("another team's durable consumer: attach, get, delete are PERMISSION_DENIED", async () => {
    assert.equal(await consumeCode("shipping", { name: "shipping-1" }), "ok");
    assert.equal(await consumeCode("billing", { name: "shipping-1" }), Code.PermissionDenied);
    assert.equal(
      await codeOf(clients.consume.getConsumer({ topic: "orders", name: "shipping-1" }, as("billing"))),
      Code.PermissionDenied,
    );
    assert.equal(
      await codeOf(clients.consume.deleteConsumer({ topic: "orders", name: "shipping-1" }, as("billing"))),
      Code.PermissionDenied,
    );
    assert.equal(
      await codeOf(clients.consume.getConsumer({ topic: "orders", name: "shipping-1" }, as("shipping"))),
      "ok",
    );
  });

  test("a client's geobroker-forwarded-hops header is ignored: its publishes are counted", async () => {
    const metric = async () => {
      const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
      return Number(/^geobroker_published_messages_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? "0");
    };
    const before = await metric();
    const body = new TextEncoder().encode("x");
    for (let i = 0; i < 5; i++)
      await clients.publish.publish(
        { topic: "orders", body },
        { ...as("billing"), headers: { ...as("billing").headers, "geobroker-forwarded-hops": "1" } },
      );
    assert.equal((await metric()) - before, 5);
  });

  test("subscribe bounds: partitions de-duplicated and at most 1,024; compat topics at most 256", async () => {
    const tooMany = clients.consume.subscribe(
      { topic: "orders", partitions: Array.from({ length: 5000 }, () => 0) },
      as("billing"),
    );
    assert.equal(
      await codeOf(
        (async () => {
          for await (const _ of tooMany) break;
        })(),
      ),
      Code.InvalidArgument,
    );
    const topics = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`billing.t${i}`, 0n]));
    const compat = clients.compat.subscribe({ topics }, as("billing"));
    assert.equal(
      await codeOf(
        (async () => {
          for await (const _ of compat) break;
        })(),
      ),
      Code.InvalidArgument,
    );
  });
});
