import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { describe, it } from "node:test";
import tls from "node:tls";
import { createCa } from "../src/pki/ca.js";
import { IdentityKeeper, type IdentityTimes } from "../src/pki/identity-keeper.js";
import { createOperatorIdentity, type OperatorIdentity } from "../src/pki/operator-identity.js";
import { PkiStore } from "../src/pki/pki-store.js";
import { FakeKube } from "./fake-kube.js";

// The operator's self-signed admin identity: a client certificate CN=geobroker-operator under the
// operator's identity CA, what the brokers trust for clients. The CA lives in a Secret of the
// operator's namespace, so every replica (a failover, a restart) presents an identity the brokers
// already trust (decision 0066).

const day = 24 * 3600_000;

/** Whether a TLS server trusting only `trusted` for client certificates accepts `client`'s certificate. */
async function accepted(
  trusted: string,
  client: OperatorIdentity,
  server: OperatorIdentity,
): Promise<boolean> {
  // The server's own certificate does not matter here; the client does not verify it.
  const srv = tls.createServer({
    cert: server.cert,
    key: server.key,
    ca: trusted,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const result = new Promise<boolean>((resolve) => {
    srv.on("secureConnection", (s) => {
      resolve(s.authorized);
      s.end();
    });
    srv.on("tlsClientError", () => resolve(false));
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as { port: number };
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    cert: client.cert,
    key: client.key,
    rejectUnauthorized: false,
  });
  socket.on("error", () => {});
  try {
    return await result;
  } finally {
    socket.destroy();
    srv.close();
  }
}

describe("operator identity", () => {
  it("is CN=geobroker-operator for client auth, under the identity CA", async () => {
    const now = new Date("2026-06-01T00:00:00Z");
    const ca = await createCa("test identity CA", now, 3650 * day);
    const id = await createOperatorIdentity(ca, now, 30 * day);
    const cert = new X509Certificate(id.cert);
    const caCert = new X509Certificate(id.ca);
    assert.equal(cert.subject, "CN=geobroker-operator");
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), "signed by the CA");
    assert.equal(caCert.ca, true);
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"], "client auth only");
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 30 * day);
    assert.match(id.key, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(!id.ca.includes("PRIVATE KEY") && !id.cert.includes("PRIVATE KEY"));
  });

  it("is accepted by a TLS server trusting its CA; a same-named certificate under another CA is not", async () => {
    const now = new Date();
    const [a, b] = await Promise.all([createCa("a", now, day), createCa("b", now, day)]);
    const mine = await createOperatorIdentity(a, now, day);
    const other = await createOperatorIdentity(b, now, day);
    assert.equal(await accepted(mine.ca, mine, mine), true);
    assert.equal(await accepted(mine.ca, other, mine), false, "another CA's geobroker-operator is refused");
  });

  it("two replicas (or a restarted one) sharing the operator's Secret are trusted by one bundle", async () => {
    // Before decision 0066 each process made a one-off CA: a new leader's identity was refused until
    // every broker had read the new client-ca ConfigMap (about a minute on a real kubelet).
    const kube = new FakeKube();
    const options = {
      namespace: "geobroker-system",
      secretName: "geobroker-operator-pki",
      enrollmentService: "geobroker-operator",
    };
    const replicas = [new PkiStore(kube, options), new PkiStore(kube, options)];
    // Both look at once: one creates the Secret, the other must read the winner's rather than its own.
    const keepers = replicas.map((p) => new IdentityKeeper(() => p.identityCa()));
    const [one, two] = await Promise.all(keepers.map((k) => k.identity()));
    const [bundleOne, bundleTwo] = await Promise.all(keepers.map((k) => k.trustBundle()));
    assert.equal(bundleOne, bundleTwo, "the brokers' client CA does not change with the leader");
    assert.notEqual(one!.cert, two!.cert, "each replica has its own leaf and key");
    assert.equal(
      await accepted(bundleOne!, two!, one!),
      true,
      "the first replica's bundle trusts the second's identity",
    );
    const restarted = new IdentityKeeper(() => new PkiStore(kube, options).identityCa());
    assert.equal(await restarted.trustBundle(), bundleOne, "a restarted process keeps the CA");
    const secrets = [...kube.objects.keys()].filter((k) => k.startsWith("Secret/"));
    assert.deepEqual(secrets, ["Secret/geobroker-system/geobroker-operator-pki"], "one Secret, the winner's");
  });
});

describe("identity keeper", () => {
  const times: IdentityTimes = { lifetimeMs: 30 * day, renewBeforeMs: 10 * day };

  function keeper() {
    let t = new Date("2026-01-01T00:00:00Z").getTime();
    let made = 0;
    const k = new IdentityKeeper(
      async () => ({ cert: "ca\n", key: "ca-key" }),
      () => new Date(t),
      times,
      async (ca, now, lifetimeMs) => {
        made++;
        return {
          cert: `cert-${made}`,
          key: `key-${made}`,
          ca: ca.cert,
          notBefore: now,
          notAfter: new Date(now.getTime() + lifetimeMs),
        };
      },
    );
    return { k, advance: (ms: number) => (t += ms), made: () => made };
  }

  it("signs a new leaf when a third of its lifetime is left; the trusted CA stays", async () => {
    const { k, advance } = keeper();
    assert.equal((await k.identity()).cert, "cert-1");
    advance(19 * day);
    assert.equal((await k.identity()).cert, "cert-1");
    advance(day); // 10 days left: renew
    assert.equal((await k.identity()).cert, "cert-2");
    assert.equal(await k.trustBundle(), "ca\n");
  });

  it("makes one identity for concurrent callers", async () => {
    const { k, made } = keeper();
    const [a, b] = await Promise.all([k.identity(), k.identity()]);
    assert.equal(a, b);
    assert.equal(made(), 1);
  });
});
