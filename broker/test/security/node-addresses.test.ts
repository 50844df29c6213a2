import assert from "node:assert/strict";
import { test } from "node:test";
import { hostOf, NodeAddressBook, normalizeAddress } from "../../src/security/node-addresses.js";

test("hostOf takes the host of host:port, [v6]:port and bare hosts", () => {
  assert.equal(hostOf("eu-0.geo.svc:7100"), "eu-0.geo.svc");
  assert.equal(hostOf("10.0.0.7:7100"), "10.0.0.7");
  assert.equal(hostOf("[fd00::1]:7100"), "fd00::1");
  assert.equal(hostOf("fd00::1"), "fd00::1");
  assert.equal(hostOf("eu-0"), "eu-0");
});

test("an IPv4 client on a dual-stack socket is its IPv4 address", () => {
  assert.equal(normalizeAddress("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(normalizeAddress("fd00::1"), "fd00::1");
});

test("the book holds what the node hosts resolve to, and follows them when they move", async () => {
  const dns: Record<string, string[]> = { "eu-0.svc": ["10.0.0.1"], "us-0.svc": ["10.0.0.2", "fd00::2"] };
  const failed: string[] = [];
  let hosts = ["eu-0.svc:7100", "us-0.svc:7101", "10.0.0.9:7100", "gone.svc:7100"];
  const book = new NodeAddressBook(
    () => hosts,
    async (h) => {
      const a = dns[h];
      if (!a) throw new Error(`getaddrinfo ENOTFOUND ${h}`);
      return a;
    },
    (host) => failed.push(host),
  );
  assert.equal(book.has("10.0.0.1"), false, "nothing is believed before the first resolution");
  await book.refresh();
  for (const a of ["10.0.0.1", "::ffff:10.0.0.2", "fd00::2", "10.0.0.9"]) assert.equal(book.has(a), true, a);
  assert.equal(book.has("10.0.0.3"), false);
  assert.equal(book.has(undefined), false);
  assert.deepEqual(failed, ["gone.svc"]);
  // eu-0 moved to another pod IP: its old address is no longer a node's.
  dns["eu-0.svc"] = ["10.0.0.5"];
  hosts = hosts.slice(0, 2);
  await book.refresh();
  assert.equal(book.has("10.0.0.1"), false);
  assert.equal(book.has("10.0.0.5"), true);
  assert.equal(book.has("10.0.0.9"), false);
});
