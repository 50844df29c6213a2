import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import { type JwtAlgorithm, JwtAuthenticator, loadJwtKey, verifyJwt } from "../../src/security/jwt.js";
import { hashPassword } from "../../src/security/passwords.js";

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** Signs like any JWT library would; `alg` in the header can lie to test confusion attacks. */
function makeToken(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signer: { hmac?: Buffer | string; rsa?: KeyObject; ec?: KeyObject },
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  let sig: Buffer = Buffer.alloc(0);
  if (signer.hmac !== undefined) sig = createHmac("sha256", signer.hmac).update(input).digest();
  if (signer.rsa) sig = sign("sha256", Buffer.from(input), signer.rsa);
  if (signer.ec) sig = sign("sha256", Buffer.from(input), { key: signer.ec, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

const now = 1_800_000_000;
const valid = {
  sub: "alice",
  iss: "https://issuer.example",
  aud: "geobroker",
  exp: now + 600,
  nbf: now - 10,
};
const secret = randomBytes(32);
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsaPublicPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
const ecPublicPem = ec.publicKey.export({ type: "spki", format: "pem" }) as string;

const keys: Record<JwtAlgorithm, { verify: KeyObject; signer: Parameters<typeof makeToken>[2] }> = {
  HS256: {
    verify: loadJwtKey("HS256", Buffer.concat([secret, Buffer.from("\n")])),
    signer: { hmac: secret },
  },
  RS256: { verify: loadJwtKey("RS256", Buffer.from(rsaPublicPem)), signer: { rsa: rsa.privateKey } },
  ES256: { verify: loadJwtKey("ES256", Buffer.from(ecPublicPem)), signer: { ec: ec.privateKey } },
};

const options = (algorithm: JwtAlgorithm) => ({
  algorithm,
  key: keys[algorithm].verify,
  issuer: valid.iss,
  audience: "geobroker",
  leewaySeconds: 5,
  rolesClaim: "roles",
});

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConnectError, "a ConnectError");
    assert.equal(err.code, Code.Unauthenticated);
    assert.match(err.rawMessage, pattern);
    return true;
  });
}

describe("JWT bearer tokens", () => {
  for (const alg of ["HS256", "RS256", "ES256"] as const) {
    test(`${alg}: a valid token is accepted with its name and roles`, () => {
      const token = makeToken({ alg, typ: "JWT" }, { ...valid, roles: ["orders-writer"] }, keys[alg].signer);
      const v = verifyJwt(token, options(alg), now);
      assert.equal(v.name, "alice");
      assert.deepEqual(v.roles, ["orders-writer"]);
    });

    test(`${alg}: a bad signature is rejected`, () => {
      const token = makeToken({ alg }, valid, keys[alg].signer);
      const tampered = makeToken({ alg }, { ...valid, sub: "root" }, keys[alg].signer).split(".");
      const forged = `${tampered[0]}.${tampered[1]}.${token.split(".")[2]}`;
      rejects(() => verifyJwt(forged, options(alg), now), /signature is invalid/);
    });
  }

  test("expired, with leeway", () => {
    const token = makeToken({ alg: "HS256" }, { ...valid, exp: now - 4 }, keys.HS256.signer);
    assert.equal(verifyJwt(token, options("HS256"), now).name, "alice");
    rejects(() => verifyJwt(token, options("HS256"), now + 2), /expired at/);
  });

  test("not yet valid", () => {
    const token = makeToken({ alg: "HS256" }, { ...valid, nbf: now + 60 }, keys.HS256.signer);
    rejects(() => verifyJwt(token, options("HS256"), now), /not valid before/);
  });

  test("no expiry is refused by default", () => {
    const { exp: _, ...noExp } = valid;
    const token = makeToken({ alg: "HS256" }, noExp, keys.HS256.signer);
    rejects(() => verifyJwt(token, options("HS256"), now), /no expiry/);
  });

  test("wrong audience and wrong issuer", () => {
    const aud = makeToken({ alg: "HS256" }, { ...valid, aud: ["other", "more"] }, keys.HS256.signer);
    rejects(() => verifyJwt(aud, options("HS256"), now), /audience does not include geobroker/);
    const inList = makeToken({ alg: "HS256" }, { ...valid, aud: ["other", "geobroker"] }, keys.HS256.signer);
    assert.equal(verifyJwt(inList, options("HS256"), now).name, "alice");
    const iss = makeToken({ alg: "HS256" }, { ...valid, iss: "https://evil.example" }, keys.HS256.signer);
    rejects(
      () => verifyJwt(iss, options("HS256"), now),
      /issuer "https:\/\/evil.example" is not the expected/,
    );
  });

  test("alg none is rejected", () => {
    const token = `${b64({ alg: "none" })}.${b64(valid)}.`;
    for (const alg of ["HS256", "RS256", "ES256"] as const)
      rejects(() => verifyJwt(token, options(alg), now), /algorithm "none" is not accepted/);
  });

  test("alg confusion: an HS256 token signed with the RS256 public key is rejected", () => {
    const token = makeToken({ alg: "HS256" }, valid, { hmac: rsaPublicPem });
    rejects(
      () => verifyJwt(token, options("RS256"), now),
      /algorithm "HS256" is not accepted; .* RS256 only/,
    );
    // And a PEM can never be configured as an HS256 secret in the first place.
    assert.throws(() => loadJwtKey("HS256", Buffer.from(rsaPublicPem)), /raw shared secret, not a PEM key/);
  });

  test("an ES256 token is not accepted by an RS256 server, nor the other way round", () => {
    const es = makeToken({ alg: "ES256" }, valid, keys.ES256.signer);
    rejects(() => verifyJwt(es, options("RS256"), now), /not accepted/);
    const rs = makeToken({ alg: "RS256" }, valid, keys.RS256.signer);
    rejects(() => verifyJwt(rs, options("ES256"), now), /not accepted/);
  });

  test("malformed tokens", () => {
    rejects(() => verifyJwt("abc", options("HS256"), now), /malformed bearer token/);
    rejects(() => verifyJwt("a.b.c", options("HS256"), now), /header is not base64url JSON/);
    rejects(() => verifyJwt(`${b64("[1]")}.e30.`, options("HS256"), now), /header is not a JSON object/);
    rejects(() => verifyJwt("x".repeat(20_000), options("HS256"), now), /longer than/);
    const crit = makeToken({ alg: "HS256", crit: ["exp"] }, valid, keys.HS256.signer);
    rejects(() => verifyJwt(crit, options("HS256"), now), /critical header/);
  });

  test("key files: short secrets, wrong key types", () => {
    assert.throws(() => loadJwtKey("HS256", Buffer.from("short")), /at least 32 random bytes/);
    assert.throws(() => loadJwtKey("RS256", Buffer.from(ecPublicPem)), /RS256 needs an RSA key/);
    assert.throws(() => loadJwtKey("ES256", Buffer.from(rsaPublicPem)), /ES256 needs an EC P-256 key/);
    assert.throws(() => loadJwtKey("ES256", Buffer.from("garbage")), /PEM public key or certificate/);
  });

  test("JwtAuthenticator reads the bearer header and maps the name claim", async () => {
    const auth = new JwtAuthenticator(
      { ...options("ES256"), nameClaim: "email", rolesClaim: "scope" },
      () => now,
    );
    const token = makeToken({ alg: "ES256" }, { ...valid, email: "a@x", scope: "r1 r2" }, keys.ES256.signer);
    const p = await auth.authenticate(new Headers({ authorization: `Bearer ${token}` }));
    assert.deepEqual(p, {
      name: "a@x",
      method: "bearer",
      roles: ["r1", "r2"],
      expiresAt: valid.exp + (options("ES256").leewaySeconds ?? 30),
    });
    assert.equal(auth.stillValid(p), true, "a token's streams last until it expires (plus leeway)");
    await assert.rejects(auth.authenticate(new Headers()), /missing credentials/);
    await assert.rejects(auth.authenticate(new Headers({ authorization: "basic YTpi" })), /use bearer/);
  });
});

describe("basic credentials", () => {
  test("right password accepted, wrong password and unknown user rejected alike", async () => {
    const auth = new BasicAuthenticator([{ name: "alice", passwordHash: await hashPassword("s3cret-pw") }]);
    const basic = (u: string, p: string) =>
      new Headers({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
    assert.deepEqual(await auth.authenticate(basic("alice", "s3cret-pw")), {
      name: "alice",
      method: "basic",
    });
    for (const h of [basic("alice", "wrong"), basic("nobody", "s3cret-pw")]) {
      await assert.rejects(auth.authenticate(h), (err: ConnectError) => {
        assert.equal(err.code, Code.Unauthenticated);
        assert.equal(err.rawMessage, "invalid user name or password");
        return true;
      });
    }
  });
});
