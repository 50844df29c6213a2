import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, resolveConfig } from "../../src/config/load.js";

const peers = [
  { id: "eu-0", region: "eu", zone: "", peerAddress: "127.0.0.1:7100", clientAddress: "127.0.0.1:7000" },
];
const base = { nodeId: "eu-0", region: "eu", peers };
const tls = {
  client: { cert: "c.crt", key: "c.key", ca: "ca.crt", requireClientCert: false },
  peer: { cert: "p.crt", key: "p.key", ca: "ca.crt" },
};

const problems = (layer: Record<string, unknown>): string => {
  try {
    resolveConfig([layer]);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  return "";
};

test("the older auth.mode is a synonym of auth.modes with one entry", () => {
  const c = resolveConfig([{ ...base, auth: { mode: "basic", usersFile: "u.yaml" } }]);
  assert.deepEqual(c.auth.modes, ["basic"]);
  assert.equal("mode" in c.auth, false);
  assert.equal(c.auth.certificateIdentity, "cn");
  assert.deepEqual(resolveConfig([{ ...base, auth: { mode: "none" } }]).auth.modes, ["none"]);
  assert.match(
    problems({ ...base, auth: { mode: "bearer" } }),
    /auth\.mode: "basic" or "none" \(got "bearer"\); use auth\.modes/,
  );
  assert.match(
    problems({ ...base, auth: { mode: "none", modes: ["basic"], usersFile: "u" } }),
    /auth\.mode and auth\.modes disagree/,
  );
});

test("without any auth key a node uses basic and needs a users file", () => {
  assert.match(problems(base), /auth\.usersFile: required with auth mode basic/);
});

test("every mode's own keys are checked, all problems at once, with the key path", () => {
  const text = problems({
    ...base,
    auth: {
      modes: ["basic", "bearer", "certificate", "ldap"],
      jwt: { algorithm: "none", audience: 7, leewaySeconds: -1, nameClaim: "" },
      certificateIdentity: "email",
    },
  });
  assert.match(text, /auth\.modes: a non-empty list of basic, bearer, certificate, none \(got/);
  assert.match(text, /auth\.usersFile: required/);
  assert.match(text, /auth\.jwt\.algorithm: one of HS256, RS256, ES256 \(got "none"\)/);
  assert.match(text, /auth\.jwt: exactly one of keyFile .* jwksFile or jwksUrl/);
  assert.match(text, /auth\.jwt\.audience: a string or a list/);
  assert.match(text, /auth\.jwt\.leewaySeconds: an integer >= 0/);
  assert.match(text, /auth\.jwt\.nameClaim: a non-empty string/);
  assert.match(text, /auth\.modes: certificate needs tls\.client/);
  assert.match(text, /auth\.certificateIdentity: "cn" or "san"/);
  assert.match(
    problems({ ...base, auth: { modes: ["bearer"] } }),
    /auth\.jwt: required with auth mode bearer/,
  );
  assert.match(problems({ ...base, auth: { modes: [] } }), /auth\.modes: a non-empty list/);
  assert.match(
    problems({ ...base, auth: { modes: ["none", "basic"], usersFile: "u" } }),
    /none \(anonymous access\) cannot be combined/,
  );
});

test("a full bearer + certificate + basic configuration resolves", () => {
  const c = resolveConfig([
    {
      ...base,
      tls,
      auth: {
        modes: ["basic", "bearer", "certificate"],
        usersFile: "u.yaml",
        aclFile: "acl.yaml",
        certificateIdentity: "san",
        jwt: { algorithm: "ES256", keyFile: "k.pem", issuer: "i", audience: ["a", "b"], leewaySeconds: 5 },
      },
    },
  ]);
  assert.deepEqual(c.auth.modes, ["basic", "bearer", "certificate"]);
  assert.equal(c.auth.jwt?.algorithm, "ES256");
  assert.equal(c.auth.certificateIdentity, "san");
});

test("production mode needs an ACL file and refuses none in either spelling", () => {
  const prod = { ...base, production: true, tls };
  assert.match(
    problems({ ...prod, auth: { modes: ["basic"], usersFile: "u" } }),
    /auth\.aclFile is required in production mode/,
  );
  assert.match(problems({ ...prod, auth: { modes: ["none"], aclFile: "a" } }), /auth\.mode none is refused/);
  assert.match(problems({ ...prod, auth: { mode: "none", aclFile: "a" } }), /auth\.mode none is refused/);
  const ok = resolveConfig([{ ...prod, auth: { modes: ["basic"], usersFile: "u", aclFile: "a" } }]);
  assert.equal(ok.auth.aclFile, "a");
});

test("connection limits default from limits.ts and are checked when set", () => {
  const auth = { mode: "none" };
  const c = resolveConfig([{ ...base, auth }]);
  assert.deepEqual(c.limits.connections, {
    maxSessionsPerAddress: 64,
    maxSessions: 10_000,
    idleSessionMs: 300_000,
    requestBodyMs: 30_000,
    maxConcurrentStreams: 100,
    maxStreamsPerPrincipal: 1000,
    handshakeMs: 10_000,
  });
  assert.deepEqual(c.limits.auth, {
    maxConcurrent: 2,
    maxQueued: 64,
    maxFailures: 20,
    failureWindowMs: 60_000,
    lockoutMs: 60_000,
  });
  assert.equal(c.limits.maxMessageBytes, 1024 * 1024, "input limits are unchanged");
  const d = resolveConfig([{ ...base, auth, limits: { connections: { maxSessionsPerAddress: 4 } } }]);
  assert.equal(d.limits.connections.maxSessionsPerAddress, 4);
  assert.equal(d.limits.connections.maxSessions, 10_000, "other keys keep their defaults");
  assert.match(
    problems({ ...base, auth, limits: { connections: { idleSessionMs: 0, requestBodyMs: "1s" } } }),
    /limits\.connections\.idleSessionMs: a positive integer[\s\S]*limits\.connections\.requestBodyMs/,
  );
});

test("tls.peer.allowedIdentities must be a list of patterns", () => {
  const auth = { mode: "none" };
  const c = resolveConfig([
    { ...base, auth, tls: { peer: { ...tls.peer, allowedIdentities: ["eu-*", "*.geo"] } } },
  ]);
  assert.deepEqual(c.tls.peer?.allowedIdentities, ["eu-*", "*.geo"]);
  assert.match(
    problems({ ...base, auth, tls: { peer: { ...tls.peer, allowedIdentities: [] } } }),
    /tls\.peer\.allowedIdentities: a non-empty list/,
  );
});

test("tls.peer.enroll: an https URL, the token file and the endpoint's CA (the operator's peer certificates)", () => {
  const enroll = {
    url: "https://geobroker-operator.ops.svc:8443/v1/peer-certificates",
    tokenFile: "t",
    ca: "e.crt",
  };
  const c = resolveConfig([
    { ...base, auth: { modes: ["none"] }, tls: { ...tls, peer: { ...tls.peer, enroll } } },
  ]);
  assert.deepEqual(c.tls.peer?.enroll, enroll);
  for (const bad of [
    { ...enroll, url: "http://operator/v1/peer-certificates" },
    { url: enroll.url, ca: "e.crt" },
    "yes",
  ])
    assert.match(
      problems({ ...base, auth: { modes: ["none"] }, tls: { ...tls, peer: { ...tls.peer, enroll: bad } } }),
      /tls\.peer\.enroll: \{url: https:\/\/<operator>\/v1\/peer-certificates, tokenFile/,
    );
});
