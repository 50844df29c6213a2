import assert from "node:assert/strict";
import { test } from "node:test";
import {
  certificateIdentities,
  defaultPeerIdentities,
  identityMatches,
  peerIdentityProblem,
} from "../../src/security/peer-identity.js";

const cert = (cn: string | undefined, san = "") => ({
  subject: (cn ? { CN: cn } : {}) as never,
  subjectaltname: san,
});

test("a certificate's identities are its CN and its DNS and URI SANs, not IPs", () => {
  assert.deepEqual(
    certificateIdentities(cert("eu-0", "DNS:localhost, IP Address:127.0.0.1, URI:spiffe://geo/eu-0")),
    ["eu-0", "localhost", "spiffe://geo/eu-0"],
  );
});

test("patterns: literal text, * matches any run of characters", () => {
  assert.ok(identityMatches("eu-0", "eu-0"));
  assert.ok(!identityMatches("eu-0", "eu-01"));
  assert.ok(identityMatches("*.geobroker", "eu-0.geobroker"));
  assert.ok(identityMatches("*.geobroker", "a.b.geobroker"));
  assert.ok(!identityMatches("*.geobroker", "geobroker"));
  assert.ok(!identityMatches("eu.0", "eux0"), "a dot is literal, not a regex wildcard");
});

test("the default identities: initial node ids and *.<cluster>; a shared <cluster>-peer only when configured", () => {
  const allowed = defaultPeerIdentities({
    clusterId: "geo",
    peers: [{ id: "eu-0" }, { id: "us-0" }] as never,
  });
  assert.deepEqual(allowed, ["eu-0", "us-0", "*.geo"]);
  assert.equal(peerIdentityProblem(cert("us-0"), allowed), undefined);
  assert.match(peerIdentityProblem(cert("geo-peer"), allowed) ?? "", /"geo-peer", none of which/);
  assert.equal(peerIdentityProblem(cert("x", "DNS:ap-3.geo"), allowed), undefined, "a joining node");
  assert.match(
    peerIdentityProblem(cert("alice", "DNS:alice.example"), allowed) ?? "",
    /names "alice", "alice.example", none of which is an allowed node identity/,
  );
  assert.match(peerIdentityProblem(undefined, allowed) ?? "", /presented no certificate/);
  assert.match(peerIdentityProblem(cert(undefined), allowed) ?? "", /no CN or SAN/);
});
