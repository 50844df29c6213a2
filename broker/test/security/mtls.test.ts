import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { createAudit } from "../../src/security/audit.js";
import { authorizationInterceptor, connectionAuthInterceptor } from "../../src/security/auth-interceptors.js";
import { type Authenticator, BasicAuthenticator } from "../../src/security/authenticator.js";
import { AccessPolicy, parseAcl } from "../../src/security/authorization.js";
import {
  CertificateAuthenticator,
  chainAuthenticators,
  identityFromCertificate,
  parseSubjectAltName,
  peerContextValues,
} from "../../src/security/client-cert.js";
import { principalKey } from "../../src/security/context-keys.js";
import { JwtAuthenticator, loadJwtKey } from "../../src/security/jwt.js";
import { hashPassword } from "../../src/security/passwords.js";
import { makePki, type Pem, type Pki } from "./tls-fixtures.js";

const acl = parseAcl(`
roles:
  - name: orders
    rules: [{actions: [publish, subscribe], topics: ["orders.*"]}]
users:
  - {name: alice, roles: [orders]}
  - {name: bob, roles: [orders]}
  - {name: "spiffe://geobroker/svc-alice", roles: [orders]}
`);

interface Running {
  port: number;
  auditLines: string[];
  tlsErrors: number;
  close(): Promise<void>;
}

async function serve(pki: Pki, authenticator: Authenticator, requireClientCert: boolean): Promise<Running> {
  const auditLines: string[] = [];
  const audit = createAudit((event, fields) => auditLines.push(JSON.stringify({ event, ...fields })));
  const handler = connectNodeAdapter({
    contextValues: peerContextValues,
    interceptors: [
      connectionAuthInterceptor(authenticator, (method, err) =>
        audit("auth.failure", { method, reason: err.rawMessage }),
      ),
      authorizationInterceptor(new AccessPolicy(acl), {
        onDenied: (p, method, reason) => audit("authz.denied", { user: p.name, method, reason }),
      }),
    ],
    routes: (router) =>
      router.service(Broker, {
        async publish(_req, ctx) {
          const p = ctx.values.get(principalKey);
          return { id: `${p?.name} via ${p?.method}` };
        },
        async *subscribe(req) {
          for (const topic of Object.keys(req.topics)) yield { id: "1", topic };
        },
      }),
  });
  const server = http2.createSecureServer(
    {
      cert: pki.server.cert,
      key: pki.server.key,
      ca: pki.ca.cert,
      requestCert: true,
      rejectUnauthorized: requireClientCert,
    },
    handler,
  );
  const running = { port: 0, auditLines, tlsErrors: 0 } as Running;
  server.on("tlsClientError", () => running.tlsErrors++);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  running.port = (server.address() as AddressInfo).port;
  running.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    });
  return running;
}

function client(pki: Pki, port: number, identity?: Pem) {
  const transport = createGrpcTransport({
    baseUrl: `https://127.0.0.1:${port}`,
    nodeOptions: identity ? { ca: pki.ca.cert, cert: identity.cert, key: identity.key } : { ca: pki.ca.cert },
  });
  return createClient(Broker, transport);
}

const basic = (u: string, p: string) => ({
  authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`,
});

async function codeOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("the call should have failed");
}

describe("mTLS client identity", () => {
  let pki: Pki;
  let chain: Authenticator;
  const hsSecret = randomBytes(32);
  let optional: Running;
  let required: Running;

  before(async () => {
    pki = makePki();
    chain = chainAuthenticators({
      basic: new BasicAuthenticator([{ name: "bob", passwordHash: await hashPassword("bob-password-1") }]),
      bearer: new JwtAuthenticator({ algorithm: "HS256", key: loadJwtKey("HS256", hsSecret) }),
      certificate: new CertificateAuthenticator("cn"),
    });
    optional = await serve(pki, chain, false);
    required = await serve(pki, chain, true);
  });
  after(async () => {
    await optional?.close();
    await required?.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  test("a client certificate from the cluster CA maps to its CN", async () => {
    const res = await client(pki, required.port, pki.alice).publish({
      topic: "orders.eu",
      body: new Uint8Array(),
    });
    assert.equal(res.id, "alice via certificate");
  });

  test("a client certificate from another CA is rejected at the TLS layer", async () => {
    const before = required.tlsErrors;
    const err = await codeOf(
      client(pki, required.port, pki.mallory).publish({ topic: "orders.eu", body: new Uint8Array() }),
    );
    assert.notEqual(err.code, Code.Unauthenticated, "refused before any request reached the authenticator");
    assert.equal(required.tlsErrors, before + 1);
    assert.equal(required.auditLines.filter((l) => l.includes("mallory")).length, 0);
  });

  test("when client certificates are optional, one from another CA is ignored, not trusted", async () => {
    const err = await codeOf(
      client(pki, optional.port, pki.mallory).publish({ topic: "orders.eu", body: new Uint8Array() }),
    );
    assert.equal(err.code, Code.Unauthenticated);
    assert.match(err.rawMessage, /missing credentials/);
  });

  test("basic works without a certificate; a wrong password never falls back to the certificate", async () => {
    const ok = await client(pki, optional.port).publish(
      { topic: "orders.eu", body: new Uint8Array() },
      { headers: basic("bob", "bob-password-1") },
    );
    assert.equal(ok.id, "bob via basic");
    const err = await codeOf(
      client(pki, optional.port, pki.alice).publish(
        { topic: "orders.eu", body: new Uint8Array() },
        { headers: basic("bob", "wrong-password") },
      ),
    );
    assert.equal(err.code, Code.Unauthenticated);
    assert.equal(err.rawMessage, "invalid user name or password");
    const lines = optional.auditLines.join("\n");
    assert.ok(!lines.includes("wrong-password"));
    assert.ok(!lines.includes(Buffer.from("bob:wrong-password").toString("base64")));
  });

  test("bearer tokens go through the chain; unknown schemes are refused with what is accepted", async () => {
    const { createHmac } = await import("node:crypto");
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const input = `${b64({ alg: "HS256" })}.${b64({ sub: "bob", exp: Date.now() / 1000 + 60 })}`;
    const token = `${input}.${createHmac("sha256", hsSecret).update(input).digest("base64url")}`;
    const ok = await client(pki, optional.port).publish(
      { topic: "orders.eu", body: new Uint8Array() },
      { headers: { authorization: `Bearer ${token}` } },
    );
    assert.equal(ok.id, "bob via bearer");
    const err = await codeOf(
      client(pki, optional.port).publish(
        { topic: "orders.eu", body: new Uint8Array() },
        { headers: { authorization: "Digest abc" } },
      ),
    );
    assert.equal(err.code, Code.Unauthenticated);
    assert.match(err.rawMessage, /scheme "digest" is not enabled; this server accepts basic/);
  });

  test("authorization: allowed topics pass, others are PERMISSION_DENIED and audited", async () => {
    const alice = client(pki, optional.port, pki.alice);
    const err = await codeOf(alice.publish({ topic: "payments", body: new Uint8Array() }));
    assert.equal(err.code, Code.PermissionDenied);
    assert.match(err.rawMessage, /user "alice" is not allowed publish on topic "payments"/);
    const got: string[] = [];
    for await (const m of alice.subscribe({ topics: { "orders.a": 0n, "orders.b": 0n } })) got.push(m.topic);
    assert.deepEqual(got, ["orders.a", "orders.b"]);
    const denied = await codeOf(
      (async () => {
        for await (const _ of alice.subscribe({ topics: { "orders.a": 0n, secrets: 0n } })) {
        }
      })(),
    );
    assert.equal(denied.code, Code.PermissionDenied);
    assert.ok(optional.auditLines.some((l) => l.includes('"authz.denied"') && l.includes("secrets")));
  });

  test("SAN identity and SAN parsing", () => {
    assert.equal(
      identityFromCertificate(
        { subject: { CN: "alice" } as never, subjectaltname: "URI:spiffe://x/y, DNS:a.b" },
        "san",
      ),
      "spiffe://x/y",
    );
    assert.equal(identityFromCertificate({ subject: {} as never, subjectaltname: "DNS:a.b" }, "san"), "a.b");
    assert.equal(
      identityFromCertificate({ subject: { CN: ["a", "b"] } as never, subjectaltname: "" }, "cn"),
      undefined,
    );
    assert.deepEqual(parseSubjectAltName('DNS:x, URI:"spiffe://a,b", IP Address:127.0.0.1'), [
      { type: "DNS", value: "x" },
      { type: "URI", value: "spiffe://a,b" },
      { type: "IP Address", value: "127.0.0.1" },
    ]);
  });

  test("SAN mode over a real connection", async () => {
    const sanServer = await serve(pki, new CertificateAuthenticator("san"), true);
    try {
      const res = await client(pki, sanServer.port, pki.alice).publish({
        topic: "orders.x",
        body: new Uint8Array(),
      });
      assert.equal(res.id, "spiffe://geobroker/svc-alice via certificate");
    } finally {
      await sanServer.close();
    }
  });
});
