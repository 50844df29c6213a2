import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { forwardedForHeader } from "../../src/engine/engine.js";
import {
  connectionAuthInterceptor,
  type ForwardingNodes,
  forwardingNodeProblem,
} from "../../src/security/auth-interceptors.js";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import {
  CertificateAuthenticator,
  certificateFingerprints,
  chainAuthenticators,
  peerContextValues,
} from "../../src/security/client-cert.js";
import { principalKey } from "../../src/security/context-keys.js";
import { hashPassword } from "../../src/security/passwords.js";
import { authority, leaf, makePki, type Pem, type Pki } from "./tls-fixtures.js";

// `x-geobroker-forwarded-for` on the client port: a node forwarding the call of a caller that
// authenticated by certificate names that caller; only a connection whose verified certificate is a
// cluster node's (node identity AND the peer CA) may do so. Real TLS sockets, as on the client port.

const nodeExt = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
const allowedIdentities = ["eu-0", "eu-1", "*.sectest"];

interface Running {
  port: number;
  failures: string[];
  close(): Promise<void>;
}

async function serve(pki: Pki, peerCa: Pem, nodes: ForwardingNodes | undefined): Promise<Running> {
  const failures: string[] = [];
  const authenticator = chainAuthenticators({
    basic: new BasicAuthenticator([{ name: "bob", passwordHash: await hashPassword("bob-password-1") }]),
    certificate: new CertificateAuthenticator("cn"),
  });
  const handler = connectNodeAdapter({
    contextValues: peerContextValues,
    interceptors: [
      connectionAuthInterceptor(authenticator, (_method, err) => failures.push(err.rawMessage), nodes),
    ],
    routes: (router) =>
      router.service(Broker, {
        async publish(_req, ctx) {
          const p = ctx.values.get(principalKey);
          return { id: `${p?.name} via ${p?.method}` };
        },
        async *subscribe() {},
      }),
  });
  // The client port as a node with a separate peer CA sets it up: both CAs trusted.
  const server = http2.createSecureServer(
    {
      cert: pki.server.cert,
      key: pki.server.key,
      ca: [pki.ca.cert, peerCa.cert],
      requestCert: true,
      rejectUnauthorized: false,
    },
    handler,
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    failures,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("x-geobroker-forwarded-for", () => {
  let pki: Pki;
  let peerCa: Pem;
  let node: Pem;
  let nodeNamedFromClientCa: Pem;
  let nonNodeFromPeerCa: Pem;
  let strict: Running;
  let noForwarding: Running;

  before(async () => {
    pki = makePki();
    peerCa = authority(pki.dir, "peer-ca", "geobroker peer CA");
    node = leaf(pki.dir, "peer-ca", "eu-1", "eu-1", nodeExt);
    nodeNamedFromClientCa = leaf(pki.dir, "ca", "eu-1-client-ca", "eu-1", nodeExt);
    nonNodeFromPeerCa = leaf(pki.dir, "peer-ca", "peer-alice", "alice", nodeExt);
    const issuers = certificateFingerprints(peerCa.cert);
    strict = await serve(pki, peerCa, { allowedIdentities, issuers: () => issuers });
    noForwarding = await serve(pki, peerCa, undefined);
  });
  after(async () => {
    await strict?.close();
    await noForwarding?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  const publish = (port: number, identity: Pem | undefined, headers: Record<string, string>) =>
    createClient(
      Broker,
      createGrpcTransport({
        baseUrl: `https://127.0.0.1:${port}`,
        nodeOptions: identity
          ? { ca: pki.ca.cert, cert: identity.cert, key: identity.key }
          : { ca: pki.ca.cert },
      }),
    ).publish({ topic: "orders.eu", body: new TextEncoder().encode("x") }, { headers, timeoutMs: 10_000 });

  async function refusal(call: Promise<unknown>): Promise<ConnectError> {
    try {
      await call;
    } catch (err) {
      const e = ConnectError.from(err);
      assert.equal(e.code, Code.Unauthenticated, e.message);
      return e;
    }
    assert.fail("the call should have been refused");
  }

  test("from a node certificate (node identity, peer CA): the principal is the forwarded name, by certificate", async () => {
    const res = await publish(strict.port, node, { [forwardedForHeader]: "geobroker-operator" });
    assert.equal(res.id, "geobroker-operator via certificate");
    // Without the header the node certificate is just its own identity, as before.
    assert.equal((await publish(strict.port, node, {})).id, "eu-1 via certificate");
  });

  test("from a client certificate, even one carrying a node name from the client CA: refused", async () => {
    const alice = await refusal(publish(strict.port, pki.alice, { [forwardedForHeader]: "ops" }));
    assert.match(
      alice.rawMessage,
      /x-geobroker-forwarded-for is only accepted from cluster nodes: .*"alice"/,
    );
    const lookalike = await refusal(
      publish(strict.port, nodeNamedFromClientCa, { [forwardedForHeader]: "ops" }),
    );
    assert.match(lookalike.rawMessage, /only accepted from cluster nodes: .*does not chain to the peer CA/);
    const peerCaUser = await refusal(
      publish(strict.port, nonNodeFromPeerCa, { [forwardedForHeader]: "ops" }),
    );
    assert.match(peerCaUser.rawMessage, /only accepted from cluster nodes: .*none of which is an allowed/);
    // Another CA's certificate is not verified at all: no certificate as far as auth goes.
    const mallory = await refusal(publish(strict.port, pki.mallory, { [forwardedForHeader]: "ops" }));
    assert.match(mallory.rawMessage, /only accepted from cluster nodes: the peer presented no certificate/);
  });

  test("without a certificate, with or next to valid basic credentials: refused", async () => {
    const bare = await refusal(publish(strict.port, undefined, { [forwardedForHeader]: "ops" }));
    assert.match(bare.rawMessage, /only accepted from cluster nodes: the peer presented no certificate/);
    const withBasic = await refusal(
      publish(strict.port, undefined, {
        [forwardedForHeader]: "ops",
        authorization: `basic ${Buffer.from("bob:bob-password-1").toString("base64")}`,
      }),
    );
    assert.match(withBasic.rawMessage, /only accepted from cluster nodes/);
    // A node sends one or the other, never both.
    const both = await refusal(
      publish(strict.port, node, {
        [forwardedForHeader]: "ops",
        authorization: `basic ${Buffer.from("bob:bob-password-1").toString("base64")}`,
      }),
    );
    assert.match(both.rawMessage, /either authorization or x-geobroker-forwarded-for/);
  });

  test("a node that accepts no forwarded identities refuses the header even from a node certificate", async () => {
    const err = await refusal(publish(noForwarding.port, node, { [forwardedForHeader]: "ops" }));
    assert.match(
      err.rawMessage,
      /only accepted from cluster nodes: this node accepts no forwarded identities/,
    );
  });

  test("forwardingNodeProblem: identity first, then the chain to the peer CA", () => {
    const root = { subject: { CN: "peer CA" }, subjectaltname: "", fingerprint256: "AA:BB" };
    const chained = {
      subject: { CN: "eu-0" },
      subjectaltname: "",
      fingerprint256: "11:22",
      issuerCertificate: root,
    };
    (root as Record<string, unknown>).issuerCertificate = root;
    const nodes = { allowedIdentities, issuers: () => new Set(["AA:BB"]) };
    type Cert = Parameters<typeof forwardingNodeProblem>[0];
    assert.equal(forwardingNodeProblem(chained as unknown as Cert, nodes), undefined);
    assert.match(
      forwardingNodeProblem(chained as unknown as Cert, { ...nodes, issuers: () => new Set(["CC:DD"]) })!,
      /does not chain to the peer CA/,
    );
    assert.match(
      forwardingNodeProblem({ ...chained, subject: { CN: "bob" } } as unknown as Cert, nodes)!,
      /"bob", none of which is an allowed node identity/,
    );
    assert.match(forwardingNodeProblem(undefined, nodes)!, /presented no certificate/);
  });
});
