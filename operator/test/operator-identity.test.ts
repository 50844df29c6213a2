import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { describe, it } from "node:test";
import tls from "node:tls";
import { IdentityKeeper, type IdentityTimes } from "../src/pki/identity-keeper.js";
import { createOperatorIdentity, type OperatorIdentity } from "../src/pki/operator-identity.js";

// The operator's self-signed admin identity: a client certificate CN=geobroker-operator under a
// one-off CA, what the brokers trust for clients; and its renewal, which publishes the successor's CA
// before presenting the successor.

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
  it("is CN=geobroker-operator for client auth, under a CA that signs nothing else", async () => {
    const now = new Date("2026-06-01T00:00:00Z");
    const id = await createOperatorIdentity(now, 30 * day);
    const cert = new X509Certificate(id.cert);
    const ca = new X509Certificate(id.ca);
    assert.equal(cert.subject, "CN=geobroker-operator");
    assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), "signed by its own CA");
    assert.equal(ca.ca, true);
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"], "client auth only");
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 30 * day);
    assert.match(id.key, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(!id.ca.includes("PRIVATE KEY") && !id.cert.includes("PRIVATE KEY"));
  });

  it("is accepted by a TLS server trusting its CA; a same-named certificate under another CA is not", async () => {
    const now = new Date();
    const [mine, other] = await Promise.all([
      createOperatorIdentity(now, day),
      createOperatorIdentity(now, day),
    ]);
    assert.equal(await accepted(mine.ca, mine, mine), true);
    assert.equal(await accepted(mine.ca, other, mine), false, "each identity's CA trusts only that identity");
  });
});

describe("identity keeper", () => {
  const times: IdentityTimes = { lifetimeMs: 30 * day, renewBeforeMs: 10 * day, handOverMs: 600_000 };

  function keeper() {
    let t = new Date("2026-01-01T00:00:00Z").getTime();
    let made = 0;
    const k = new IdentityKeeper(
      () => new Date(t),
      times,
      async (now, lifetimeMs) => {
        made++;
        return {
          cert: `cert-${made}`,
          key: `key-${made}`,
          ca: `ca-${made}\n`,
          notBefore: now,
          notAfter: new Date(now.getTime() + lifetimeMs),
        };
      },
    );
    return { k, advance: (ms: number) => (t += ms), made: () => made };
  }

  it("publishes the successor's CA before it presents the successor", async () => {
    const { k, advance } = keeper();
    assert.equal((await k.identity()).cert, "cert-1");
    assert.equal(await k.trustBundle(), "ca-1\n");
    advance(20 * day); // 10 days left: renew
    assert.equal(await k.trustBundle(), "ca-1\nca-2\n", "both trusted while the brokers pick up the new CA");
    assert.equal((await k.identity()).cert, "cert-1", "still the old one until the hand-over");
    advance(600_000);
    assert.equal((await k.identity()).cert, "cert-2");
    assert.equal(await k.trustBundle(), "ca-2\n");
  });

  it("makes one identity for concurrent callers, and a fresh one once expired", async () => {
    const { k, advance, made } = keeper();
    const [a, b] = await Promise.all([k.identity(), k.identity()]);
    assert.equal(a, b);
    assert.equal(made(), 1);
    advance(31 * day);
    assert.equal((await k.identity()).cert, "cert-2");
    assert.equal(made(), 2);
  });
});
