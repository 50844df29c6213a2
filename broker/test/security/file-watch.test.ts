import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import { AccessPolicy, type AclState } from "../../src/security/authorization.js";
import { TlsFiles, WatchedFiles, watchAclFile, watchUsersFile } from "../../src/security/file-watch.js";
import { hashPassword } from "../../src/security/passwords.js";
import { makePki, type Pki, serverExt } from "./tls-fixtures.js";

/** Polls until `check` holds; the deadline is a safety net, not a measurement. */
async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const basic = (u: string, p: string) =>
  new Headers({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
const accepts = (auth: BasicAuthenticator, u: string, p: string) =>
  auth.authenticate(basic(u, p)).then(
    () => true,
    () => false,
  );

/** A folder laid out like a Kubernetes Secret volume: names -> ..data/name, ..data -> ..<version>. */
function secretVolume(
  dir: string,
  files: Record<string, string>,
): { swap(files: Record<string, string>): void } {
  let version = 0;
  const write = (contents: Record<string, string>) => {
    const folder = `..v${++version}`;
    mkdirSync(join(dir, folder));
    for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, folder, name), text);
    symlinkSync(folder, join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // atomic, as the kubelet does
  };
  write(files);
  for (const name of Object.keys(files)) symlinkSync(join("..data", name), join(dir, name));
  return { swap: write };
}

describe("hot reload of security files", () => {
  let pki: Pki;
  before(() => {
    pki = makePki();
  });
  after(() => rmSync(pki.dir, { recursive: true, force: true }));

  test("a rewritten users file takes effect without a restart; a broken one keeps the old users", async () => {
    const dir = mkdtempSync(join(tmpdir(), "geobroker-users-"));
    const path = join(dir, "users.yaml");
    writeFileSync(path, `users:\n  - name: alice\n    passwordHash: "${await hashPassword("first-pw")}"\n`);
    const auth = new BasicAuthenticator([]);
    const errors: string[] = [];
    const watched = watchUsersFile(path, auth, { pollMs: 200, onError: (e) => errors.push(e.message) });
    try {
      assert.equal(await accepts(auth, "alice", "first-pw"), true);
      writeFileSync(
        path,
        `users:\n  - name: alice\n    passwordHash: "${await hashPassword("second-pw")}"\n`,
      );
      await eventually(() => accepts(auth, "alice", "second-pw"), "the new password");
      assert.equal(await accepts(auth, "alice", "first-pw"), false, "the old password is gone");

      writeFileSync(path, "users: [{name: alice, passwordHash: plain-text}]\n");
      await eventually(() => errors.length > 0, "the reload error");
      assert.match(errors[0]!, /needs a passwordHash made by `geobroker hash-password`/);
      assert.equal(await accepts(auth, "alice", "second-pw"), true, "the last good users stay");
    } finally {
      watched.close();
    }
  });

  test("an ACL file in a Secret volume: swapping ..data changes the policy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "geobroker-acl-"));
    const rules = (topic: string) =>
      `roles: [{name: w, rules: [{actions: [publish], topics: ["${topic}"]}]}]\nusers: [{name: alice, roles: [w]}]\n`;
    const volume = secretVolume(dir, { "acl.yaml": rules("orders.*") });
    let policy = new AccessPolicy({ roles: [], users: [] });
    const states: AclState[] = [];
    const watched = watchAclFile(
      join(dir, "acl.yaml"),
      (s) => {
        states.push(s);
        policy = new AccessPolicy(s);
      },
      { pollMs: 200 },
    );
    const alice = { name: "alice", method: "basic" as const };
    try {
      assert.equal(policy.authorize(alice, "publish", "orders.x").allowed, true);
      volume.swap({ "acl.yaml": rules("payments") });
      await eventually(() => policy.authorize(alice, "publish", "payments").allowed, "the swapped ACL");
      assert.equal(policy.authorize(alice, "publish", "orders.x").allowed, false);
      assert.equal(states.length, 2);
    } finally {
      watched.close();
    }
  });

  test("TLS: rotating the certificate in a Secret volume reaches new connections; a mismatched pair is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "geobroker-tls-"));
    const volume = secretVolume(dir, {
      "tls.crt": pki.server.cert,
      "tls.key": pki.server.key,
      "ca.crt": pki.ca.cert,
    });
    const reloads: string[][] = [];
    const errors: string[] = [];
    const files = new TlsFiles(
      { cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") },
      { pollMs: 200, onReload: (p) => reloads.push(p), onError: (e) => errors.push(e.message) },
    );
    const server = http2.createSecureServer({ ...files.serverOptions(), allowHTTP1: true }, (_req, res) =>
      res.end(),
    );
    files.attach(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const peerCn = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port, host: "127.0.0.1", ca: pki.ca.cert, servername: "localhost" }, () => {
          const cn = s.getPeerCertificate().subject.CN as string;
          s.destroy();
          resolve(cn);
        });
        s.once("error", reject);
      });
    try {
      assert.equal(await peerCn(), "localhost");
      const next = pki.issue("server-2", "rotated-server", serverExt);
      // A half-done rotation (new certificate, old key) must not replace working material.
      volume.swap({ "tls.crt": next.cert, "tls.key": pki.server.key, "ca.crt": pki.ca.cert });
      await eventually(() => errors.length > 0, "the mismatch error");
      assert.match(errors[0]!, /is unusable/);
      assert.equal(await peerCn(), "localhost");

      volume.swap({ "tls.crt": next.cert, "tls.key": next.key, "ca.crt": pki.ca.cert });
      await eventually(async () => (await peerCn()) === "rotated-server", "the rotated certificate");
      assert.ok(reloads.length >= 1);
      let sniCn = "";
      files.sniCallback("localhost", (_e, ctx) => {
        sniCn = ctx ? "context" : "";
      });
      assert.equal(sniCn, "context");
    } finally {
      files.close();
      server.close();
    }
  });

  test("the stat poll alone notices a file replaced by rename (a new inode under the same name)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "geobroker-poll-"));
    const path = join(dir, "value.txt");
    writeFileSync(path, "one");
    const watched = new WatchedFiles([path], () => readFileSync(path, "utf8"), {
      pollMs: 50,
      useFsWatch: false,
    });
    try {
      // Replace by rename from elsewhere: a new inode under the same name.
      const other = join(tmpdir(), `geobroker-poll-${process.pid}.txt`);
      writeFileSync(other, "two");
      copyFileSync(other, `${path}.tmp`);
      renameSync(`${path}.tmp`, path);
      await eventually(() => watched.current() === "two", "the polled change");
    } finally {
      watched.close();
    }
  });
  test("a file written in place is loaded once it has settled: never empty, never cut short", async () => {
    // live-auth.test.ts, on a loaded clean clone: the stat poll read the ACL file between
    // writeFileSync's truncate and its write, took the empty file in as an ACL granting nothing, and
    // the next (broken) edit then "kept the last good ACL": the empty one.
    const dir = mkdtempSync(join(tmpdir(), "geobroker-inplace-"));
    const path = join(dir, "value.txt");
    writeFileSync(path, "one");
    const loads: string[] = [];
    const errors: string[] = [];
    const watched = new WatchedFiles(
      [path],
      () => {
        const text = readFileSync(path, "utf8");
        loads.push(text);
        return text;
      },
      { pollMs: 60_000, useFsWatch: false, onError: (e) => errors.push(e.message) },
    );
    const settled = () => new Promise((r) => setTimeout(r, 150));
    try {
      writeFileSync(path, ""); // the truncate, seen by a poll
      watched.check();
      await settled();
      assert.equal(watched.current(), "one", "an empty file is not taken in");
      assert.match(errors.join(" "), /is empty .*keeping the last good one/);

      writeFileSync(path, "tw"); // half written when a poll looks...
      watched.check();
      writeFileSync(path, "two!"); // ...and done a moment later
      await settled();
      assert.equal(watched.current(), "two!");
      assert.deepEqual(loads, ["one", "two!"], "the half-written content was never loaded");
    } finally {
      watched.close();
    }
  });
});
