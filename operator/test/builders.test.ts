import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { defaultConfig } from "../../broker/src/config/defaults.js";
import { mergeConfig, validateConfig } from "../../broker/src/config/load.js";
import { parseAcl } from "../../broker/src/security/authorization.js";
import { readUsersFile } from "../../broker/src/security/users-file.js";
import { brokerConfig, configHash, specPeers } from "../src/model/broker-config.js";
import { maxUnavailable, usersSecret } from "../src/model/builders.js";
import { statefulSet } from "../src/model/statefulset.js";
import { tlsObjects } from "../src/model/tls.js";
import { makeCluster, regions3 } from "./world.js";

describe("builders", () => {
  it("keeps a voluntary-disruption budget that never costs the quorum", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(maxUnavailable), [0, 0, 1, 1, 1, 1]);
  });

  it("uses the user's issuer when given, and makes a private CA otherwise", () => {
    const own = makeCluster({
      regions: regions3(),
      tls: { issuerRef: { name: "corp-ca", kind: "ClusterIssuer" } },
    });
    const objects = tlsObjects(own, ["eu", "us", "ap"]);
    assert.equal(
      objects.some((o) => o.kind === "Issuer"),
      false,
    );
    for (const cert of objects) {
      assert.deepEqual((cert.spec as { issuerRef: unknown }).issuerRef, {
        name: "corp-ca",
        kind: "ClusterIssuer",
        group: "cert-manager.io",
      });
    }
    const selfSigned = tlsObjects(makeCluster({ regions: regions3() }), ["eu", "us", "ap"]);
    assert.deepEqual(
      selfSigned.map((o) => `${o.kind}/${o.metadata.name}`),
      [
        "Issuer/demo-selfsigned",
        "Certificate/demo-server-ca",
        "Issuer/demo-server-ca",
        "Certificate/demo-client",
      ],
      "no peer CA or peer Certificate: the operator signs each node's itself (decision 0065)",
    );
    const spec = (name: string) =>
      selfSigned.find((o) => o.kind === "Certificate" && o.metadata.name === name)!.spec as {
        usages: string[];
        issuerRef: { name: string };
        commonName: string;
      };
    // The client port's server certificate from the server CA, and no Issuer at all for the
    // operator's identity or the peers (the operator signs them).
    assert.equal(spec("demo-client").issuerRef.name, "demo-server-ca");
    assert.ok(!spec("demo-client").usages.includes("client auth"), "the server certificate is no client");
    assert.ok(
      !selfSigned.some((o) => (o.spec as { commonName?: string }).commonName === "geobroker-operator"),
      "no Certificate names the operator",
    );
  });

  it("points the brokers' client CA at the operator's identity only, and has each node enroll its own peer certificate", () => {
    const c = makeCluster({ regions: regions3(1) });
    const config = brokerConfig(c, specPeers(c)) as unknown as {
      tls: { client: Record<string, string>; peer: Record<string, unknown> };
    };
    assert.equal(config.tls.client.ca, "/etc/geobroker/tls/client-ca/ca.crt");
    assert.equal(config.tls.client.serverCa, "/etc/geobroker/tls/client/ca.crt");
    assert.equal(
      config.tls.peer.sharedIdentities,
      undefined,
      "no shared certificate: every connection is bound",
    );
    assert.deepEqual(config.tls.peer, {
      cert: "/var/run/geobroker/peer/tls.crt",
      key: "/var/run/geobroker/peer/tls.key",
      ca: "/etc/geobroker/tls/peer-ca/ca.crt",
      allowedIdentities: ["demo-*"],
      enroll: {
        url: "https://geobroker-operator.geobroker-system.svc:8443/v1/peer-certificates",
        tokenFile: "/var/run/secrets/geobroker/token",
        ca: "/etc/geobroker/tls/peer-ca/enrollment-ca.crt",
      },
    });
    const sts = statefulSet(c, {
      region: c.spec.regions[0]!,
      replicas: 1,
      config: brokerConfig(c, specPeers(c)),
    });
    const pod = (
      sts.spec as { template: { spec: { volumes: { name: string; configMap?: { name: string } }[] } } }
    ).template.spec;
    assert.deepEqual(
      pod.volumes.find((v) => v.name === "tls-client-ca")?.configMap,
      { name: "demo-client-ca" },
      "mounted from the ConfigMap: certificates only, no CA key in the namespace",
    );
    const volumes = pod.volumes as unknown as Record<string, unknown>[];
    const volume = (name: string) => volumes.find((v) => v.name === name);
    assert.deepEqual(volume("tls-peer-ca"), { name: "tls-peer-ca", configMap: { name: "demo-peer-ca" } });
    assert.deepEqual(volume("tls-peer"), {
      name: "tls-peer",
      emptyDir: { medium: "Memory", sizeLimit: "1Mi" },
    });
    assert.deepEqual(volume("enrollment-token"), {
      name: "enrollment-token",
      projected: {
        sources: [
          { serviceAccountToken: { audience: "geobroker-operator", expirationSeconds: 600, path: "token" } },
        ],
      },
    });
    assert.ok(!volumes.some((v) => JSON.stringify(v).includes("demo-peer-tls")), "no shared peer Secret");
  });

  it("writes a config whose hash ignores the seed list but not real settings, with spec.config merged last", () => {
    const c = makeCluster({
      regions: regions3(1),
      config: { limits: { maxMessageBytes: 2048 }, raft: { tickMs: 50 } },
    });
    const peers = specPeers(c);
    const config = brokerConfig(c, peers);
    assert.deepEqual(config.ports, { client: 9000, peer: 9100, http: 9200, admin: 9201 });
    assert.equal(config.dataDir, "/var/lib/geobroker");
    assert.deepEqual(config.limits, { maxMessageBytes: 2048 });
    assert.equal(config.peers.length, 3);
    // What the broker itself accepts: its own validation of the rendered config.
    const accepted = validateConfig(
      mergeConfig(defaultConfig as unknown as Record<string, unknown>, {
        ...(config as unknown as Record<string, unknown>),
        nodeId: "demo-eu-0",
        region: "eu",
      }),
    );
    assert.deepEqual(
      accepted.auth.modes,
      ["basic", "certificate"],
      "passwords for users, a certificate for the operator",
    );
    assert.equal(config.peers[0]?.peerAddress, "demo-eu-0.demo-eu-peers.msg.svc:9100");
    const grown = brokerConfig(makeCluster({ regions: regions3(2), config: c.spec.config! }), peers);
    assert.equal(grown.seeds.length, 6);
    assert.equal(configHash(grown), configHash(config));
    const louder = brokerConfig(
      makeCluster({ regions: regions3(1), config: c.spec.config!, logLevel: "debug" }),
      peers,
    );
    assert.notEqual(configHash(louder), configHash(config));
  });

  it("renders users and ACL files the broker's own parsers accept", () => {
    const c = makeCluster({ regions: regions3() });
    const users = [
      {
        name: "bob",
        passwordHash: "scrypt$16384$8$1$c2FsdA==$aGFzaA==",
        acls: [{ topicPattern: "*", permissions: ["subscribe"] }],
      },
      {
        name: "alice",
        passwordHash: "scrypt$16384$8$1$c2FsdA==$aGFzaA==",
        acls: [{ topicPattern: "orders.*", permissions: ["subscribe", "publish"] }],
      },
    ];
    const secret = usersSecret(c, users);
    const data = secret.stringData as Record<string, string>;
    const dir = mkdtempSync(join(tmpdir(), "geobroker-users-"));
    try {
      writeFileSync(join(dir, "users.yaml"), data["users.yaml"]!);
      assert.deepEqual(
        readUsersFile(join(dir, "users.yaml")).map((u) => u.name),
        ["alice", "bob"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const acl = parseAcl(data["acl.yaml"]!);
    assert.deepEqual(acl.users.find((u) => u.name === "alice")?.roles, ["user:alice"]);
    assert.deepEqual(acl.roles.find((r) => r.name === "user:alice")?.rules, [
      { actions: ["publish", "subscribe"], topics: ["orders.*"] },
    ]);
    assert.deepEqual(
      acl.users.find((u) => u.name === "geobroker-operator")?.roles,
      ["admin"],
      "the operator's certificate identity may administer the cluster (membership changes)",
    );
    // The same users in another order give the same bytes: no rewrite, no churn.
    assert.deepEqual(usersSecret(c, [...users].reverse()).stringData, data);
  });
});
