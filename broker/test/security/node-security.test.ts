import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Code, type ConnectError } from "@connectrpc/connect";
import { resolveConfig } from "../../src/config/load.js";
import { hashPassword } from "../../src/security/passwords.js";
import { buildNodeSecurity } from "../../src/server/node-security.js";

const dir = mkdtempSync(join(tmpdir(), "geobroker-node-security-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const peers = [
  { id: "eu-0", region: "eu", zone: "", peerAddress: "127.0.0.1:7100", clientAddress: "127.0.0.1:7000" },
];
const tls = { client: { cert: "c.crt", key: "c.key", ca: "ca.crt", requireClientCert: false } };
const config = (auth: Record<string, unknown>) =>
  resolveConfig([{ nodeId: "eu-0", region: "eu", peers, auth, tls }]);
const events: string[] = [];
const audit = (event: string) => void events.push(event);
const basic = (user: string, password: string) =>
  new Headers({ authorization: `basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

test("auth none: everyone is anonymous and may do everything", async () => {
  const s = buildNodeSecurity(config({ mode: "none" }), { audit });
  assert.deepEqual(await s.authenticator.authenticate(new Headers()), {
    name: "anonymous",
    method: "anonymous",
  });
  assert.equal(s.authorizer.authorize({ name: "anonymous", method: "anonymous" }, "admin").allowed, true);
  assert.equal(s.requestClientCert, false);
  s.close();
});

test("basic without an ACL file: authenticated callers may do everything", async () => {
  writeFileSync(
    join(dir, "users.yaml"),
    JSON.stringify({ users: [{ name: "alice", passwordHash: await hashPassword("alice-pw-1") }] }),
  );
  const s = buildNodeSecurity(config({ modes: ["basic"], usersFile: join(dir, "users.yaml") }), { audit });
  const alice = await s.authenticator.authenticate(basic("alice", "alice-pw-1"));
  assert.equal(alice.name, "alice");
  assert.equal(s.authorizer.authorize(alice, "admin").allowed, true);
  await assert.rejects(
    s.authenticator.authenticate(basic("alice", "nope")),
    (err: ConnectError) => err.code === Code.Unauthenticated,
  );
  s.close();
});

test("with an ACL file the policy applies and follows file changes; certificate mode asks for certs", async () => {
  const acl = join(dir, "acl.yaml");
  writeFileSync(acl, "users: [{name: alice, roles: []}]\n");
  const s = buildNodeSecurity(
    config({
      modes: ["basic", "certificate"],
      usersFile: join(dir, "users.yaml"),
      aclFile: acl,
    }),
    { audit, pollMs: 20 },
  );
  assert.equal(s.requestClientCert, true);
  const alice = { name: "alice", method: "basic" as const };
  assert.equal(s.authorizer.authorize(alice, "publish", "orders").allowed, false);
  writeFileSync(acl, "users: [{name: alice, roles: [admin]}]\n");
  const deadline = Date.now() + 5000;
  while (!s.authorizer.authorize(alice, "publish", "orders").allowed) {
    if (Date.now() > deadline) assert.fail("the ACL change never applied");
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(events.includes("security.reload"));
  s.close();
});

test("a broken file at start is an error, not a node without security", () => {
  writeFileSync(join(dir, "bad-acl.yaml"), "users: [{name: bob, roles: [ghost]}]\n");
  assert.throws(
    () =>
      buildNodeSecurity(
        config({ modes: ["basic"], usersFile: join(dir, "users.yaml"), aclFile: join(dir, "bad-acl.yaml") }),
        { audit },
      ),
    /role "ghost" is not defined/,
  );
});
