import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  applyMetadataCommand,
  initialMetadataState,
  type MetadataCommand,
} from "../../src/cluster/state/metadata-state.js";
import { AccessPolicy, type AclState } from "../../src/security/authorization.js";
import { ReplicatedSecurity } from "../../src/server/replicated-security.js";

// Issue #19: the ACL and users were per node, from files: nodes could disagree on who may do what.
// Now they are metadata-group state; files feed it through the leader.

const hash = (c: string) => `scrypt$16384$8$1$${"A".repeat(22)}==$${c.repeat(43)}=`;
const acl = (grants: Record<string, string[]>): AclState => ({
  roles: [{ name: "w", rules: [{ actions: ["publish"], topics: ["orders.*"] }] }],
  users: Object.entries(grants).map(([name, roles]) => ({ name, roles })),
});
const alice = { name: "alice", method: "basic" as const };

describe("users and grants as replicated metadata state", () => {
  test("every replica applying the same commands decides alike", () => {
    const commands: MetadataCommand[] = [
      {
        type: "replaceSecurity",
        users: [{ name: "alice", passwordHash: hash("B") }],
        acl: acl({ alice: ["w"] }),
      },
      { type: "putUser", user: { name: "bob", passwordHash: hash("C") } },
      { type: "putGrants", user: { name: "bob", roles: ["w"] } },
      { type: "deleteGrants", name: "alice" },
    ];
    const replicas = [initialMetadataState([]), initialMetadataState([])];
    for (const r of replicas) for (const c of commands) assert.equal(applyMetadataCommand(r, c).ok, true);
    assert.deepEqual(replicas[0]!.security, replicas[1]!.security);
    const policy = new AccessPolicy(replicas[0]!.security!.acl);
    assert.equal(policy.authorize(alice, "publish", "orders.x").allowed, false);
    assert.equal(policy.authorize({ name: "bob", method: "basic" }, "publish", "orders.x").allowed, true);
    assert.deepEqual(Object.keys(replicas[0]!.security!.users).sort(), ["alice", "bob"]);
    assert.equal(replicas[0]!.security!.version, 4);
  });

  test("refused alike everywhere: clear-text passwords, reserved password users, bad ACLs", () => {
    const s = initialMetadataState([]);
    const refused = (c: MetadataCommand, pattern: RegExp) => {
      const r = applyMetadataCommand(s, c);
      assert.equal(r.ok, false);
      assert.match(!r.ok ? r.error.message : "", pattern);
    };
    refused({ type: "putUser", user: { name: "eve", passwordHash: "hunter2" } }, /must be an scrypt hash/);
    refused({ type: "putUser", user: { name: "geobroker-operator", passwordHash: hash("B") } }, /reserved/);
    refused({ type: "putGrants", user: { name: "carol", roles: ["no-such-role"] } }, /not defined/);
    assert.equal(s.security, undefined, "nothing was applied");
  });

  test("an unchanged replace is a no-op (no new version)", () => {
    const s = initialMetadataState([]);
    const c: MetadataCommand = { type: "replaceSecurity", users: [], acl: acl({}) };
    applyMetadataCommand(s, c);
    applyMetadataCommand(s, c);
    assert.equal(s.security?.version, 1);
  });
});

describe("ReplicatedSecurity: files feed the metadata group, nodes apply what it holds", () => {
  function world(leader: boolean, files: { users: { name: string; passwordHash: string }[]; acl: AclState }) {
    const state = initialMetadataState([]);
    const applied: string[] = [];
    const errors: string[] = [];
    const sync = new ReplicatedSecurity(
      {
        securityState: () => state.security,
        leadsMetadata: () => leader,
        proposeSystem: async (c) => applyMetadataCommand(state, c),
      },
      {
        fileSource: () => files,
        applyReplicated: (users, a) =>
          applied.push(`${users.map((u) => u.name).join(",")}|${a.users.length}`),
      },
      (m) => errors.push(m),
    );
    return { state, applied, errors, sync, files };
  }

  test("the leader proposes its files; each node applies the replicated version once", async () => {
    const w = world(true, {
      users: [{ name: "alice", passwordHash: hash("B") }],
      acl: acl({ alice: ["w"] }),
    });
    w.sync.tick();
    await new Promise((r) => setImmediate(r));
    assert.equal(w.state.security?.version, 1);
    w.sync.tick();
    w.sync.tick();
    assert.deepEqual(w.applied, ["alice|1"]);
  });

  test("a follower never proposes: its stale files do not change what the cluster decides", async () => {
    const w = world(false, { users: [], acl: acl({ mallory: ["w"] }) });
    w.sync.tick();
    await new Promise((r) => setImmediate(r));
    assert.equal(w.state.security, undefined);
  });

  test("a reserved user in the files is left out, loudly, and the others still replicate", async () => {
    const w = world(true, {
      users: [
        { name: "geobroker-operator", passwordHash: hash("B") },
        { name: "alice", passwordHash: hash("C") },
      ],
      acl: acl({ alice: ["w"] }),
    });
    w.sync.tick();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(Object.keys(w.state.security?.users ?? {}), ["alice"]);
    assert.match(w.errors.join("\n"), /"geobroker-operator" is reserved/);
  });
});

test("a source the metadata group refuses is not proposed again until it changes", async () => {
  let proposals = 0;
  const errors: string[] = [];
  const sync = new ReplicatedSecurity(
    {
      securityState: () => undefined,
      leadsMetadata: () => true,
      proposeSystem: async () => {
        proposals++;
        return { ok: false, error: { code: "failed_precondition", message: "no" } };
      },
    },
    { fileSource: () => ({ users: [], acl: acl({}) }), applyReplicated: () => {} },
    (m) => errors.push(m),
  );
  for (let i = 0; i < 5; i++) {
    sync.tick();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(proposals, 1);
  assert.match(errors.join("\n"), /refused by the metadata group: no/);
});
