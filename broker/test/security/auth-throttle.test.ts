import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, type ConnectError } from "@connectrpc/connect";
import { AuthThrottle, rateLimited } from "../../src/security/auth-throttle.js";
import { BasicAuthenticator, parseBasicCredentials } from "../../src/security/authenticator.js";
import { hashPassword } from "../../src/security/passwords.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("auth throttle", () => {
  test("locks an address out after maxFailures within the window, for lockoutMs", () => {
    let now = 0;
    const t = new AuthThrottle({ maxFailures: 3, failureWindowMs: 1000, lockoutMs: 5000, now: () => now });
    assert.equal(t.failed("a"), false);
    assert.equal(t.failed("a"), false);
    assert.equal(t.failed("a"), true);
    const locked = t.lockout("a");
    assert.equal((locked as ConnectError).code, Code.ResourceExhausted);
    assert.match(locked!.message, /too many failed authentications from a: retry in 5 s/);
    assert.equal(t.lockout("b"), undefined, "other addresses are not affected");
    now = 5001;
    assert.equal(t.lockout("a"), undefined);
  });

  test("failures outside the window do not add up; a success forgets them", () => {
    let now = 0;
    const t = new AuthThrottle({ maxFailures: 2, failureWindowMs: 100, now: () => now });
    t.failed("a");
    now = 200;
    assert.equal(t.failed("a"), false);
    t.succeeded("a");
    assert.equal(t.failed("a"), false);
  });

  test("the address table is bounded", () => {
    const t = new AuthThrottle({ maxFailures: 2, maxAddresses: 2 });
    t.failed("a");
    t.failed("b");
    t.failed("c");
    assert.equal(t.failed("a"), false, "a was forgotten, so this is its first failure again");
  });

  test("at most maxConcurrent checks run, maxQueued wait, the rest are RESOURCE_EXHAUSTED", async () => {
    const t = new AuthThrottle({ maxConcurrent: 2, maxQueued: 1 });
    const gates: (() => void)[] = [];
    const slow = () => new Promise<string>((r) => gates.push(() => r("done")));
    const running = [t.run(slow), t.run(slow), t.run(slow)];
    assert.deepEqual(t.load(), { running: 2, queued: 1 });
    await assert.rejects(t.run(slow), (e: ConnectError) => e.code === Code.ResourceExhausted);
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.equal(gates.length, 2, "the queued check started when a slot freed");
    for (const g of gates.splice(0)) g();
    assert.deepEqual(await Promise.all(running), ["done", "done", "done"]);
    assert.deepEqual(t.load(), { running: 0, queued: 0 });
  });

  test("rate-limited lines: a burst, then one per period, with the count held back", () => {
    let now = 0;
    const lines: Record<string, unknown>[] = [];
    const log = rateLimited((f: Record<string, unknown>) => lines.push(f), {
      burst: 2,
      everyMs: 1000,
      now: () => now,
    });
    for (let i = 0; i < 10; i++) log("1.2.3.4", { i });
    assert.deepEqual(lines, [{ i: 0 }, { i: 1 }]);
    now = 1000;
    log("1.2.3.4", { i: 10 });
    assert.deepEqual(lines.at(-1), { i: 10, suppressed: 8 });
    log("5.6.7.8", { i: 11 });
    assert.deepEqual(lines.at(-1), { i: 11 }, "each address has its own bucket");
  });
});

describe("basic credentials: one spelling per credential", () => {
  test("the canonical form parses", () => {
    assert.deepEqual(parseBasicCredentials(`basic ${b64("alice:pw:with:colons")}`), {
      name: "alice",
      password: "pw:with:colons",
    });
    assert.deepEqual(parseBasicCredentials(`Basic ${b64("a:")}`), { name: "a", password: "" });
  });

  test("other spellings of the same credential are UNAUTHENTICATED before any scrypt", () => {
    const canonical = b64("alice:secret1"); // YWxpY2U6c2VjcmV0MQ==
    for (const header of [
      `basic ${canonical.replace(/=+$/, "")}`, // padding dropped
      `basic ${canonical}=`, // extra padding
      `basic ${canonical}AAAA`, // trailing garbage after padding
      `basic  ${canonical}`, // two spaces
      `basic ${canonical.slice(0, -3)}R==`, // non-zero padding bits
      `basic ${b64(":nameless")}`,
      `basic ${b64("ctl\u0001:x")}`,
      `basic ${Buffer.from([0x61, 0x3a, 0xff]).toString("base64")}`, // not UTF-8
      `basic ${"A".repeat(2000)}`,
    ]) {
      assert.throws(
        () => parseBasicCredentials(header),
        (e: ConnectError) => e.code === Code.Unauthenticated,
        header.slice(0, 60),
      );
    }
  });

  test("wrong spellings never reach the password check or the cache", async () => {
    let checks = 0;
    const basic = new BasicAuthenticator([{ name: "alice", passwordHash: await hashPassword("secret1") }], {
      runCheck: (check) => {
        checks++;
        return check();
      },
    });
    const ok = new Headers({ authorization: `basic ${b64("alice:secret1")}` });
    assert.equal((await basic.authenticate(ok)).name, "alice");
    assert.equal((await basic.authenticate(ok)).name, "alice");
    assert.equal(checks, 1, "the second call came from the cache");
    for (let i = 0; i < 20; i++) {
      const variant = new Headers({
        authorization: `basic ${b64("alice:secret1")}${"A".repeat(4 * (i + 1))}`,
      });
      await assert.rejects(basic.authenticate(variant), (e: ConnectError) => e.code === Code.Unauthenticated);
    }
    assert.equal(checks, 1, "no variant cost a scrypt");
  });
});
