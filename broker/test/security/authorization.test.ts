import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Principal } from "../../src/security/authenticator.js";
import {
  AccessPolicy,
  type Action,
  deserializeAcl,
  parseAcl,
  serializeAcl,
  topicMatches,
  withoutRole,
  withUser,
} from "../../src/security/authorization.js";

const aclYaml = `
roles:
  - name: orders-writer
    rules:
      - actions: [publish]
        topics: ["orders.*"]
  - name: reader
    rules:
      - actions: [subscribe]
        topics: ["orders.*", "audit"]
  - name: ops
    rules:
      - actions: [admin]
        topics: ["orders.*"]
users:
  - name: alice
    roles: [orders-writer, reader]
  - name: bob
    roles: [reader]
  - name: carol
    roles: [ops]
  - name: root
    roles: [admin]
`;

const user = (name: string, roles?: string[]): Principal => ({
  name,
  method: "basic",
  ...(roles ? { roles } : {}),
});

describe("authorization", () => {
  const policy = new AccessPolicy(parseAcl(aclYaml, "test ACL"));

  // users x actions x topics -> expected; undefined topic = cluster administration.
  const matrix: [string, Action, string | undefined, boolean][] = [
    ["alice", "publish", "orders.eu", true],
    ["alice", "publish", "orders.eu.paid", true],
    ["alice", "publish", "orders", false],
    ["alice", "publish", "ordersx", false],
    ["alice", "publish", "audit", false],
    ["alice", "subscribe", "orders.eu", true],
    ["alice", "subscribe", "audit", true],
    ["alice", "subscribe", "audits", false],
    ["alice", "admin", "orders.eu", false],
    ["alice", "admin", undefined, false],
    ["bob", "publish", "orders.eu", false],
    ["bob", "subscribe", "orders.us", true],
    ["bob", "subscribe", "payments", false],
    ["carol", "admin", "orders.eu", true],
    ["carol", "admin", "payments", false],
    ["carol", "admin", undefined, false],
    ["carol", "publish", "orders.eu", false],
    ["root", "publish", "anything", true],
    ["root", "subscribe", "anything", true],
    ["root", "admin", "anything", true],
    ["root", "admin", undefined, true],
    ["mallory", "publish", "orders.eu", false],
    ["mallory", "subscribe", "audit", false],
    ["mallory", "admin", undefined, false],
  ];
  for (const [name, action, topic, expected] of matrix) {
    test(`${name} ${action} ${topic ?? "(cluster)"} -> ${expected ? "allow" : "deny"}`, () => {
      const decision = policy.authorize(user(name), action, topic);
      assert.equal(decision.allowed, expected);
      if (!decision.allowed) assert.match(decision.reason, new RegExp(`user "${name}" is not allowed`));
    });
  }

  test("roles carried by the credential add to the ACL's; unknown ones grant nothing", () => {
    assert.equal(policy.authorize(user("svc", ["orders-writer"]), "publish", "orders.x").allowed, true);
    assert.equal(policy.authorize(user("svc", ["no-such-role"]), "publish", "orders.x").allowed, false);
    assert.equal(policy.authorize(user("bob", ["orders-writer"]), "publish", "orders.x").allowed, true);
  });

  test("an empty ACL denies everything", () => {
    const empty = new AccessPolicy(parseAcl("", "empty"));
    for (const a of ["publish", "subscribe", "admin"] as const)
      assert.equal(empty.authorize(user("alice"), a, "t").allowed, false);
  });

  test("topic patterns: exact, prefix and wildcard", () => {
    assert.equal(topicMatches("*", "x"), true);
    assert.equal(topicMatches("orders.*", "orders.a"), true);
    assert.equal(topicMatches("orders.*", "orders"), false);
    assert.equal(topicMatches("orders", "orders"), true);
    assert.equal(topicMatches("orders", "orders.a"), false);
  });

  test("the state round-trips through canonical JSON, and equal states serialize equally", () => {
    const state = parseAcl(aclYaml);
    const json = serializeAcl(state);
    assert.deepEqual(deserializeAcl(json), state);
    const shuffled = { roles: [...state.roles].reverse(), users: [...state.users].reverse() };
    assert.equal(serializeAcl(shuffled), json);
  });

  test("changes made as the metadata group would apply them take effect", () => {
    const state = withUser(parseAcl(aclYaml), { name: "bob", roles: ["orders-writer"] });
    assert.equal(new AccessPolicy(state).authorize(user("bob"), "publish", "orders.x").allowed, true);
    assert.equal(new AccessPolicy(state).authorize(user("bob"), "subscribe", "orders.x").allowed, false);
    assert.throws(() => withoutRole(state, "reader"), /role "reader" is not defined/);
  });

  test("invalid files are refused with a message naming the place", () => {
    assert.throws(
      () => parseAcl("roles: [{name: admin, rules: []}]", "f.yaml"),
      /f.yaml: role "admin" is built in/,
    );
    assert.throws(
      () => parseAcl("roles: [{name: r, rules: [{actions: [write], topics: [x]}]}]", "f.yaml"),
      /f.yaml: roles\[0\] \(r\).rules\[0\]: action "write" is unknown/,
    );
    assert.throws(
      () => parseAcl("roles: [{name: r, rules: [{actions: [publish], topics: ['a*b']}]}]", "f.yaml"),
      /topic pattern "a\*b" is invalid/,
    );
    assert.throws(
      () => parseAcl("users: [{name: u, roles: [nope]}]", "f.yaml"),
      /role "nope" is not defined/,
    );
    assert.throws(() => parseAcl("users: [{name: u}, {name: u}]", "f.yaml"), /listed twice/);
    assert.throws(() => parseAcl("roles: {", "f.yaml"), /cannot parse f.yaml as YAML/);
  });
});
