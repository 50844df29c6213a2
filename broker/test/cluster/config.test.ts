import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, fromEnv, resolveConfig } from "../../src/config/load.js";

const peers = [
  { id: "eu-0", region: "eu", zone: "", peerAddress: "127.0.0.1:7100", clientAddress: "127.0.0.1:7000" },
  { id: "us-0", region: "us", zone: "", peerAddress: "127.0.0.1:7101", clientAddress: "127.0.0.1:7001" },
];
const base = { nodeId: "eu-0", region: "eu", peers, auth: { mode: "basic", usersFile: "users.yaml" } };

test("defaults fill in everything a file leaves out", () => {
  const c = resolveConfig([base]);
  assert.equal(c.ports.client, 9000);
  assert.equal(c.topicDefaults.replicationFactor, 3);
  assert.equal(c.raft.tickMs, 100);
});

test("env overrides the file and flags override env", () => {
  const c = resolveConfig([
    base,
    fromEnv({ GEOBROKER_REGION: "us", GEOBROKER_NODE_ID: "us-0" }),
    { region: "eu", nodeId: "eu-0" },
  ]);
  assert.equal(c.region, "eu");
  const d = resolveConfig([base, fromEnv({ GEOBROKER_NODE_ID: "us-0", GEOBROKER_REGION: "us" })]);
  assert.equal(d.nodeId, "us-0");
});

test("every problem is reported at once with the field and what is expected", () => {
  try {
    resolveConfig([
      { ...base, nodeId: "Bad_Id", ports: { client: 70000, peer: 9100, http: 9100 }, peers: [] },
    ]);
    assert.fail("expected a ConfigError");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const text = err.message;
    assert.match(text, /nodeId: required, lowercase/);
    assert.match(text, /ports\.client: must be a port number/);
    assert.match(text, /client, peer and http must be three different ports/);
    assert.match(text, /peers: list every initial voter/);
  }
});

test("production mode refuses auth none and missing TLS", () => {
  assert.throws(
    () => resolveConfig([{ ...base, production: true, auth: { mode: "none" } }]),
    (err: Error) =>
      /auth.mode none is refused in production/.test(err.message) &&
      /tls.client is required/.test(err.message),
  );
});

test("a node missing from peers is a joining node; seeds must be addresses", () => {
  assert.equal(resolveConfig([{ ...base, nodeId: "ap-0" }]).nodeId, "ap-0");
  assert.deepEqual(resolveConfig([{ ...base, seeds: ["a.example:9100"] }]).seeds, ["a.example:9100"]);
  assert.throws(() => resolveConfig([{ ...base, seeds: ["no-port"] }]), /seeds: a list of host:port/);
});
