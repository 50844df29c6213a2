import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { describe, test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { resolveConfig } from "../../src/config/load.js";
import { AccessPolicy } from "../../src/security/authorization.js";
import { parseJwks, verifyJwt } from "../../src/security/jwt.js";

// Issue #19: iss/aud optional in production, kid ignored, no JWKS, no lifetime bound, and a
// `roles: [admin]` claim granted admin.

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const pair = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
function token(
  key: KeyObject,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const input = `${b64({ alg: "ES256", typ: "JWT", ...header })}.${b64(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}
const now = 1_800_000_000;
const claims = { sub: "svc", iss: "idp", aud: "geobroker", iat: now, exp: now + 300 };
const code = (f: () => unknown) => {
  try {
    f();
    return "ok";
  } catch (err) {
    return `${ConnectError.from(err).code} ${ConnectError.from(err).rawMessage}`;
  }
};

describe("JWT hardening", () => {
  const a = pair();
  const b = pair();
  const jwks = JSON.stringify({
    keys: [
      { ...a.publicKey.export({ format: "jwk" }), kid: "a", use: "sig", alg: "ES256" },
      { ...b.publicKey.export({ format: "jwk" }), kid: "b" },
      { kty: "RSA", kid: "rsa-ignored", n: "AQAB", e: "AQAB" },
      { ...pair().publicKey.export({ format: "jwk" }), kid: "enc", use: "enc" },
    ],
  });

  test("a JWKS: the token's kid selects the key; no kid, an unknown kid, or the wrong key are refused", () => {
    const keys = parseJwks("ES256", jwks);
    assert.deepEqual([...keys.keys()], ["a", "b"], "RSA and encryption keys are left out");
    const o = { algorithm: "ES256" as const, keys };
    assert.equal(verifyJwt(token(a.privateKey, claims, { kid: "a" }), o, now).name, "svc");
    assert.equal(verifyJwt(token(b.privateKey, claims, { kid: "b" }), o, now).name, "svc");
    assert.match(
      code(() => verifyJwt(token(a.privateKey, claims), o, now)),
      /^16 .*no key id \(kid\)/,
    );
    assert.match(
      code(() => verifyJwt(token(a.privateKey, claims, { kid: "zz" }), o, now)),
      /^16 .*"zz" is not known/,
    );
    assert.match(
      code(() => verifyJwt(token(a.privateKey, claims, { kid: "b" }), o, now)),
      /^16 .*signature is invalid/,
    );
  });

  test("a JWKS without kids, with a kid twice, or with no usable key is refused at load", () => {
    const jwk = a.publicKey.export({ format: "jwk" });
    assert.throws(() => parseJwks("ES256", JSON.stringify({ keys: [jwk] })), /keys\[0\] has no kid/);
    assert.throws(
      () =>
        parseJwks(
          "ES256",
          JSON.stringify({
            keys: [
              { ...jwk, kid: "x" },
              { ...jwk, kid: "x" },
            ],
          }),
        ),
      /listed twice/,
    );
    assert.throws(
      () => parseJwks("RS256", JSON.stringify({ keys: [{ ...jwk, kid: "x" }] })),
      /no RS256 signing key/,
    );
    assert.throws(
      () => parseJwks("RS256", jwks),
      /RSA key is shorter than 2048 bits/,
      "a weak key is an error",
    );
  });

  test("tokens valid longer than maxLifetimeSeconds are refused", () => {
    const o = { algorithm: "ES256" as const, key: a.publicKey, maxLifetimeSeconds: 3600 };
    assert.equal(
      code(() => verifyJwt(token(a.privateKey, { ...claims, exp: now + 3600 }), o, now)),
      "ok",
    );
    assert.match(
      code(() => verifyJwt(token(a.privateKey, { ...claims, exp: now + 30 * 86_400 }), o, now)),
      /^16 .*valid for 2592000 s; this server accepts at most 3600 s/,
    );
    const noIat = { sub: "svc", exp: now + 10 * 86_400 };
    assert.match(
      code(() => verifyJwt(token(a.privateKey, noIat), { ...o, maxLifetimeSeconds: undefined }, now)),
      /^16 .*at most 86400 s/,
    );
  });

  test("a roles claim never grants the built-in admin role", () => {
    const policy = new AccessPolicy({ roles: [], users: [{ name: "ops", roles: ["admin"] }] });
    const claimed = { name: "svc", method: "bearer" as const, roles: ["admin"] };
    assert.equal(policy.authorize(claimed, "admin").allowed, false);
    assert.equal(policy.authorize(claimed, "publish", "t").allowed, false);
    assert.equal(
      policy.authorize({ name: "ops", method: "bearer" }, "admin").allowed,
      true,
      "by name in the ACL",
    );
  });

  test("production mode requires auth.jwt.issuer and audience", () => {
    const base = {
      nodeId: "eu-0",
      region: "eu",
      peers: [{ id: "eu-0", region: "eu", zone: "", peerAddress: "a:1", clientAddress: "a:2" }],
      production: true,
      tls: {
        client: { cert: "c", key: "k", ca: "a", requireClientCert: false },
        peer: { cert: "c", key: "k", ca: "a" },
      },
    };
    assert.throws(
      () =>
        resolveConfig([
          {
            ...base,
            auth: { modes: ["bearer"], aclFile: "acl.yaml", jwt: { algorithm: "ES256", keyFile: "k.pem" } },
          },
        ]),
      (e: Error) =>
        /auth\.jwt\.issuer and auth\.jwt\.audience are required in production mode/.test(e.message),
    );
  });
});
