import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify } from "yaml";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { StartPositionSchema } from "../../../gen/geobroker/v1/common_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { nodeTlsFiles, startProductionNode } from "./hostile-setup.js";
import { auditLines, type LiveNode } from "./live-node.js";
import { makePki, type Pem, type Pki } from "./tls-fixtures.js";

// Every authentication path and the ACL, end to end against a live node in production mode: TLS on
// both ports, basic + bearer + certificate, an ACL file that is reloaded while the node runs.

const passwords: Record<string, string> = {
  alice: "alice-password-1",
  bob: "bob-password-1",
  carol: "carol-password-1",
  ops: "ops-password-1",
  dave: "dave-password-1",
};

const acl = (extra: { name: string; roles: string[] }[] = []) =>
  stringify({
    roles: [
      { name: "writer", rules: [{ actions: ["publish"], topics: ["orders.*"] }] },
      { name: "reader", rules: [{ actions: ["subscribe"], topics: ["orders.*"] }] },
      { name: "topic-admin", rules: [{ actions: ["admin"], topics: ["orders.*"] }] },
    ],
    users: [
      { name: "alice", roles: ["writer", "reader"] },
      { name: "bob", roles: ["reader"] },
      { name: "carol", roles: ["topic-admin"] },
      { name: "ops", roles: ["admin"] },
      ...extra,
    ],
  });

const jwtKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
function token(claims: Record<string, unknown>): string {
  const input = `${b64({ alg: "ES256", typ: "JWT" })}.${b64(claims)}`;
  const sig = sign("sha256", Buffer.from(input), { key: jwtKeys.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  sub: "svc-orders",
  iss: "test-issuer",
  aud: "geobroker",
  exp: now() + 300,
  roles: ["writer"],
  ...over,
});

const basic = (user: string, password = passwords[user]!) => ({
  authorization: `basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});
const bearer = (t: string) => ({ authorization: `bearer ${t}` });

async function errorOf(call: Promise<unknown>): Promise<ConnectError | undefined> {
  try {
    await call;
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

describe("security against a live node (production mode, TLS, basic + bearer + certificate, ACL)", () => {
  let pki: Pki;
  let node: LiveNode;
  let aclPath: string;
  const clients = new Map<string, ReturnType<typeof clientsFor>>();

  function clientsFor(identity?: Pem) {
    const transport = createGrpcTransport({
      baseUrl: `https://127.0.0.1:${node.clientPort}`,
      nodeOptions: identity
        ? { ca: pki.ca.cert, cert: identity.cert, key: identity.key }
        : { ca: pki.ca.cert },
    });
    return {
      publish: createClient(PublishService, transport),
      consume: createClient(ConsumeService, transport),
      topics: createClient(TopicService, transport),
      cluster: createClient(ClusterService, transport),
    };
  }
  const plain = () => clients.get("plain")!;
  const publish = (headers: Record<string, string>, topic = "orders.eu", c = plain()) =>
    c.publish.publish({ topic, body: new TextEncoder().encode("x") }, { headers, timeoutMs: 10_000 });

  before(async () => {
    pki = makePki();
    const files = nodeTlsFiles(pki, ",DNS:localhost");
    writeFileSync(join(pki.dir, "jwt.pem"), jwtKeys.publicKey.export({ type: "spki", format: "pem" }));
    aclPath = join(pki.dir, "acl.yaml");
    writeFileSync(aclPath, acl());
    node = await startProductionNode(
      pki,
      passwords,
      {
        modes: ["basic", "bearer", "certificate"],
        usersFile: join(pki.dir, "users.yaml"),
        aclFile: aclPath,
        jwt: {
          algorithm: "ES256",
          keyFile: join(pki.dir, "jwt.pem"),
          issuer: "test-issuer",
          audience: "geobroker",
          leewaySeconds: 0,
          rolesClaim: "roles",
        },
      },
      files,
    );
    clients.set("plain", clientsFor());
    clients.set("alice-cert", clientsFor(pki.alice));
    clients.set("mallory-cert", clientsFor(pki.mallory));
    // Messages to subscribe to, published by the admin.
    await publish(basic("ops"), "orders.eu");
    await publish(basic("ops"), "payments");
  });

  after(async () => {
    await node?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  test("basic: the right password is accepted, a wrong one is UNAUTHENTICATED and audited", async () => {
    const res = await publish(basic("alice"));
    assert.equal(res.topic, "orders.eu");
    assert.ok(res.offset >= 1n, "appended after the admin's first message");
    const err = await errorOf(publish(basic("alice", "wrong-password")));
    assert.equal(err?.code, Code.Unauthenticated);
    assert.match(err!.rawMessage, /invalid user name or password/);
    const unknown = await errorOf(publish(basic("nobody", "whatever")));
    assert.equal(unknown?.code, Code.Unauthenticated);
    const missing = await errorOf(publish({}));
    assert.equal(missing?.code, Code.Unauthenticated);
    assert.match(missing!.rawMessage, /missing credentials/);
    await waitFor(() => auditLines(node, "auth.failure").length >= 3, "auth.failure audit lines");
    const line = JSON.stringify(auditLines(node, "auth.failure"));
    assert.doesNotMatch(line, /wrong-password|d3JvbmctcGFzc3dvcmQ/, "no password in the audit log");
  });

  test("bearer: a valid token is accepted with its roles; expired, wrong audience, bad signature are not", async () => {
    await publish(bearer(token(claims())));
    const expired = await errorOf(publish(bearer(token(claims({ exp: now() - 60 })))));
    assert.equal(expired?.code, Code.Unauthenticated);
    assert.match(expired!.rawMessage, /expired/);
    const audience = await errorOf(publish(bearer(token(claims({ aud: "someone-else" })))));
    assert.equal(audience?.code, Code.Unauthenticated);
    assert.match(audience!.rawMessage, /audience/);
    const issuer = await errorOf(publish(bearer(token(claims({ iss: "evil" })))));
    assert.equal(issuer?.code, Code.Unauthenticated);
    const forged = `${token(claims()).slice(0, -8)}AAAAAAAA`;
    assert.equal((await errorOf(publish(bearer(forged))))?.code, Code.Unauthenticated);
    // The token's roles are what it may do: writer publishes to orders.*, nothing else.
    const denied = await errorOf(publish(bearer(token(claims())), "payments"));
    assert.equal(denied?.code, Code.PermissionDenied);
  });

  test("certificate: a client certificate from the cluster CA authenticates as its CN; another CA's is ignored", async () => {
    await publish({}, "orders.eu", clients.get("alice-cert")!);
    // alice (by CN) is a writer on orders.* only.
    const denied = await errorOf(publish({}, "payments", clients.get("alice-cert")!));
    assert.equal(denied?.code, Code.PermissionDenied);
    assert.match(denied!.rawMessage, /user "alice" is not allowed publish on topic "payments"/);
    const other = await errorOf(publish({}, "orders.eu", clients.get("mallory-cert")!));
    assert.equal(other?.code, Code.Unauthenticated, "a certificate from another CA is never an identity");
    // Explicit credentials that fail never fall back to the certificate.
    const wrong = await errorOf(publish(basic("alice", "nope"), "orders.eu", clients.get("alice-cert")!));
    assert.equal(wrong?.code, Code.Unauthenticated);
  });

  // users x actions x topics, each cell what the ACL says.
  const matrix: Record<string, Record<string, [boolean, boolean]>> = {
    //                 [orders.*, payments]
    alice: {
      publish: [true, false],
      subscribe: [true, false],
      topicAdmin: [false, false],
      clusterAdmin: [false, false],
    },
    bob: {
      publish: [false, false],
      subscribe: [true, false],
      topicAdmin: [false, false],
      clusterAdmin: [false, false],
    },
    carol: {
      publish: [false, false],
      subscribe: [false, false],
      topicAdmin: [true, false],
      clusterAdmin: [false, false],
    },
    ops: {
      publish: [true, true],
      subscribe: [true, true],
      topicAdmin: [true, true],
      clusterAdmin: [true, true],
    },
    dave: {
      publish: [false, false],
      subscribe: [false, false],
      topicAdmin: [false, false],
      clusterAdmin: [false, false],
    },
  };

  async function attempt(
    user: string,
    action: string,
    topic: "orders.eu" | "payments",
  ): Promise<ConnectError | undefined> {
    const headers = basic(user);
    const c = plain();
    switch (action) {
      case "publish":
        return errorOf(publish(headers, topic));
      case "subscribe":
        return errorOf(
          (async () => {
            const stream = c.consume.subscribe(
              { topic, start: create(StartPositionSchema, { position: { case: "earliest", value: true } }) },
              { headers, timeoutMs: 10_000 },
            );
            for await (const m of stream) {
              assert.ok(m.message, "the first message arrives");
              return;
            }
          })(),
        );
      case "topicAdmin": {
        const name = `${topic === "orders.eu" ? "orders" : "payments"}.new-${user}`;
        return errorOf(
          c.topics.createTopic({ topic: { name, partitions: 1 } }, { headers, timeoutMs: 10_000 }),
        );
      }
      default: {
        // Allowed: some answer about the node that does not exist; denied: PERMISSION_DENIED first.
        const err = await errorOf(
          c.cluster.removeNode({ nodeId: "no-such-node" }, { headers, timeoutMs: 10_000 }),
        );
        return err?.code === Code.PermissionDenied || err?.code === Code.Unauthenticated ? err : undefined;
      }
    }
  }

  test("ACL matrix: users x publish/subscribe/admin x topics -> allowed or PERMISSION_DENIED", async () => {
    const wrong: string[] = [];
    for (const [user, row] of Object.entries(matrix)) {
      for (const [action, [onOrders, onPayments]] of Object.entries(row)) {
        for (const [topic, allowed] of [
          ["orders.eu", onOrders],
          ["payments", onPayments],
        ] as const) {
          const err = await attempt(user, action, topic);
          const ok = allowed ? err === undefined : err?.code === Code.PermissionDenied;
          if (!ok)
            wrong.push(
              `${user} ${action} ${topic}: expected ${allowed ? "allowed" : "PERMISSION_DENIED"}, got ${err ? `${Code[err.code]} ${err.rawMessage}` : "allowed"}`,
            );
        }
      }
    }
    assert.deepEqual(wrong, []);
    // ListTopics and GetClusterInfo only need authentication.
    await plain().topics.listTopics({}, { headers: basic("dave") });
    await plain().cluster.getClusterInfo({}, { headers: basic("dave") });
    await waitFor(
      () =>
        auditLines(node, "admin.action").some((l) => l.user === "carol" && l.method === "CreateTopic") &&
        auditLines(node, "admin.action").some((l) => l.user === "ops" && l.method === "RemoveNode") &&
        auditLines(node, "authz.denied").some((l) => l.user === "dave"),
      "admin.action and authz.denied audit lines",
    );
  });

  test("an ACL file edit takes effect on the running node; a broken edit keeps the last good ACL", async () => {
    assert.equal((await errorOf(publish(basic("dave"))))?.code, Code.PermissionDenied);
    writeFileSync(aclPath, acl([{ name: "dave", roles: ["writer"] }]));
    await waitFor(async () => (await errorOf(publish(basic("dave")))) === undefined, "dave may publish");
    writeFileSync(aclPath, "roles: [{name: broken, rules: [{actions: [fly], topics: ['*']}]}]\n");
    await waitFor(() => auditLines(node, "security.reload_failed").length > 0, "security.reload_failed");
    assert.equal(await errorOf(publish(basic("dave"))), undefined, "the previous ACL stays in force");
    writeFileSync(aclPath, acl());
    await waitFor(
      async () => (await errorOf(publish(basic("dave"))))?.code === Code.PermissionDenied,
      "dave is denied again",
    );
  });
});

async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
