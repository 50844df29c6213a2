import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { parseAcl } from "../../broker/src/security/authorization.js";
import { CrdValidator, loadCrd } from "./crd-schema.js";

// Issue #19: the CRD's topicPattern had no maxLength while the broker refuses patterns over 249
// characters (one such user froze the ACL on every node); a GeoBrokerUser could ask for admin on *;
// one named geobroker-operator got admin over basic auth.

const user = new CrdValidator(loadCrd("geobroker.io_geobrokerusers.yaml").schema);
const u = (name: string, acls: unknown[]) => ({
  apiVersion: "geobroker.io/v1alpha1",
  kind: "GeoBrokerUser",
  metadata: { name },
  spec: { clusterRef: { name: "demo" }, acls },
});
const problems = (doc: unknown) => JSON.stringify(user.validate(doc));

describe("GeoBrokerUser limits match the broker's", () => {
  it("a topic pattern of at most 250 characters (249-character names, or a prefix and *)", () => {
    assert.deepEqual(
      user.validate(u("alice", [{ topicPattern: `${"a".repeat(248)}.*`, permissions: ["publish"] }])),
      [],
    );
    assert.match(
      problems(u("alice", [{ topicPattern: "a".repeat(251), permissions: ["publish"] }])),
      /must NOT have more than 250 characters/,
    );
  });

  it("admin on * is refused: cluster administration is granted only by name in the ACL Secret", () => {
    assert.match(
      problems(u("alice", [{ topicPattern: "*", permissions: ["admin"] }])),
      /admin on \* is cluster administration/,
    );
    assert.deepEqual(
      user.validate(u("alice", [{ topicPattern: "orders.*", permissions: ["admin", "create"] }])),
      [],
    );
  });

  it("reserved names are refused", () => {
    for (const name of ["geobroker-operator", "system-masters", "geobroker-node-eu-0"])
      assert.match(problems(u(name, [])), /this user name is reserved/, name);
  });

  it("accepts a topic pattern only if the broker's ACL does (a pattern it refuses froze every node's ACL)", () => {
    const brokerAccepts = (pattern: string) => {
      try {
        parseAcl(
          stringify({
            roles: [{ name: "r", rules: [{ actions: ["publish"], topics: [pattern] }] }],
            users: [],
          }),
        );
        return true;
      } catch {
        return false;
      }
    };
    const patterns = [
      "*",
      "orders",
      "orders.*",
      ...[247, 248, 249, 250, 251].flatMap((n) => [
        "a".repeat(n),
        `${"a".repeat(n - 2)}.*`,
        `${"a".repeat(n - 1)}*`,
      ]),
    ];
    for (const pattern of patterns) {
      const crdAccepts =
        user.validate(u("alice", [{ topicPattern: pattern, permissions: ["publish"] }])).length === 0;
      if (crdAccepts)
        assert.ok(
          brokerAccepts(pattern),
          `the CRD accepts a ${pattern.length}-character pattern the broker refuses`,
        );
    }
    assert.ok(brokerAccepts("a".repeat(249)) && brokerAccepts(`${"a".repeat(247)}.*`));
    assert.deepEqual(
      user.validate(u("alice", [{ topicPattern: "a".repeat(249), permissions: ["publish"] }])),
      [],
    );
    assert.deepEqual(
      user.validate(u("alice", [{ topicPattern: `${"a".repeat(247)}.*`, permissions: ["publish"] }])),
      [],
    );
  });
});
