import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { JwksUrlSource } from "../../src/security/jwks-url.js";
import { JwtAuthenticator } from "../../src/security/jwt.js";

// Issue #19: there was no JWKS; for in-cluster IdPs a JWKS URL, cached, refreshed on rotation.

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
function token(key: KeyObject, kid: string): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "ES256", kid })}.${b64({ sub: "svc", iat: now, exp: now + 60 })}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}
const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: "jwk" }), kid, use: "sig" });

test("a JWKS URL: fetched, refreshed early on an unknown kid, kept when the IdP fails or answers too much", async () => {
  const a = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const b = generateKeyPairSync("ec", { namedCurve: "P-256" });
  let answer: { status: number; body: string } = {
    status: 200,
    body: JSON.stringify({ keys: [jwk(a.publicKey, "a")] }),
  };
  const server = createServer((_req, res) => res.writeHead(answer.status).end(answer.body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const errors: string[] = [];
  const auth = new JwtAuthenticator({ algorithm: "ES256", keys: new Map() });
  const source = new JwksUrlSource({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    algorithm: "ES256",
    minRefreshMs: 0,
    maxBytes: 64 * 1024,
    onKeys: (keys) => auth.setKeys(keys),
    onError: (m) => errors.push(m),
  });
  auth.onUnknownKid(() => source.unknownKid());
  const bearer = (t: string) => new Headers({ authorization: `bearer ${t}` });
  try {
    await source.refresh();
    assert.equal((await auth.authenticate(bearer(token(a.privateKey, "a")))).name, "svc");

    answer = { status: 200, body: JSON.stringify({ keys: [jwk(a.publicKey, "a"), jwk(b.publicKey, "b")] }) };
    await assert.rejects(auth.authenticate(bearer(token(b.privateKey, "b"))), /"b" is not known here/);
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      try {
        await auth.authenticate(bearer(token(b.privateKey, "b")));
        break;
      } catch {}
    }
    assert.equal(
      (await auth.authenticate(bearer(token(b.privateKey, "b")))).name,
      "svc",
      "the rotation arrived",
    );

    answer = { status: 500, body: "down" };
    await source.refresh();
    answer = { status: 200, body: "x".repeat(100 * 1024) };
    await source.refresh();
    assert.match(errors.join("\n"), /HTTP 500; keeping the keys held/);
    assert.match(errors.join("\n"), /larger than 65536 bytes/);
    assert.equal((await auth.authenticate(bearer(token(a.privateKey, "a")))).name, "svc", "keys kept");
  } finally {
    source.close();
    server.close();
  }
});
