import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { peerBinding, senderProblem, serverBindingProblem } from "../../src/security/peer-binding.js";
import { peerTlsWithIdentities } from "../../src/security/peer-identity.js";

const cert = (cn: string | undefined, san = "") => ({
  subject: (cn ? { CN: cn } : {}) as never,
  subjectaltname: san,
});

test("a node certificate binds the connection to its CN; a configured shared certificate to no node", () => {
  assert.deepEqual(peerBinding(cert("eu-0"), []), { kind: "node", nodeId: "eu-0" });
  assert.deepEqual(peerBinding(cert("geo-peer", "DNS:*.geo-eu-peers.ns.svc"), ["geo-peer"]), {
    kind: "shared",
    identity: "geo-peer",
  });
  assert.deepEqual(
    peerBinding(cert("geo-peer"), []),
    { kind: "node", nodeId: "geo-peer" },
    "without sharedIdentities a shared CN is just a node id that no member has",
  );
  const none = peerBinding(cert(undefined, "DNS:eu-0.geo"), []);
  assert.ok("problem" in none);
  assert.match(none.problem, /names no node id .*tls\.peer\.sharedIdentities: none configured/);
});

test("a bound connection carries only its node's messages; shared and plaintext ones any", () => {
  const bound = { kind: "node", nodeId: "eu-0" } as const;
  assert.equal(senderProblem(bound, "eu-0"), undefined);
  assert.equal(
    senderProblem(bound, "eu-1"),
    `the connection's certificate is node "eu-0"'s, but the sender claims to be "eu-1"`,
  );
  assert.equal(senderProblem({ kind: "shared", identity: "geo-peer" }, "eu-1"), undefined);
  assert.equal(senderProblem(undefined, "eu-1"), undefined, "no TLS: nothing to bind to");
});

test("the dialling side: the server reached for a node must be that node", () => {
  assert.equal(serverBindingProblem(cert("eu-1"), "eu-1", []), undefined);
  assert.equal(
    serverBindingProblem(cert("eu-0"), "eu-1", []),
    `dialled node "eu-1" but the server's certificate is node "eu-0"'s`,
  );
  assert.equal(serverBindingProblem(cert("geo-peer"), "eu-1", ["geo-peer"]), undefined);
});

test("shared identities are opt-in: not in the defaults, added to the allowed ones when configured", () => {
  const files = { cert: "c", key: "k", ca: "a" };
  const names = { clusterId: "geo", peers: [{ id: "eu-0" }] };
  assert.deepEqual(peerTlsWithIdentities({ ...names, tls: { peer: files } }), {
    ...files,
    allowedIdentities: ["eu-0", "*.geo"],
    sharedIdentities: [],
  });
  assert.deepEqual(
    peerTlsWithIdentities({ ...names, tls: { peer: { ...files, sharedIdentities: ["geo-peer"] } } }),
    { ...files, sharedIdentities: ["geo-peer"], allowedIdentities: ["eu-0", "*.geo", "geo-peer"] },
  );
});

test("config: sharedIdentities is a list of names, never `*`", () => {
  const peer = { cert: "p.crt", key: "p.key", ca: "ca.crt" };
  const base = {
    nodeId: "eu-0",
    region: "eu",
    auth: { mode: "none" },
    peers: [
      { id: "eu-0", region: "eu", zone: "", peerAddress: "127.0.0.1:7100", clientAddress: "127.0.0.1:7000" },
    ],
  };
  const resolve = (sharedIdentities: unknown) =>
    resolveConfig([{ ...base, tls: { peer: { ...peer, sharedIdentities } } }]);
  assert.deepEqual(resolve(["geo-peer"]).tls.peer?.sharedIdentities, ["geo-peer"]);
  for (const bad of [["*"], "geo-peer", [""]])
    assert.throws(
      () => resolve(bad),
      (err) => err instanceof ConfigError && /tls\.peer\.sharedIdentities: a list/.test(err.message),
      JSON.stringify(bad),
    );
});
