import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import winston from "winston";
import { createAudit, redact } from "../../src/security/audit.js";

const password = "hunter2-very-secret";
const basicHeader = `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`;
const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
const privateKey =
  "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";

function winstonCapture() {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on("data", (c) => chunks.push(String(c)));
  const logger = winston.createLogger({
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: out })],
  });
  return { logger, text: () => chunks.join("") };
}

describe("audit log", () => {
  test("passwords, tokens, authorization headers and keys never reach the output", async () => {
    const { logger, text } = winstonCapture();
    const audit = createAudit(logger);
    audit("auth.failure", {
      user: "alice",
      method: "Publish",
      password,
      authorization: basicHeader,
      token: jwt,
      nested: { credentials: { pass: password }, headers: new Headers({ authorization: `Bearer ${jwt}` }) },
      reason: `rejected header ${basicHeader} and bearer ${jwt}`,
      detail: `token ${jwt} seen`,
      err: new Error(`cannot load ${privateKey}`),
      list: [password.length, { apiKey: "x", secret: password }],
    });
    audit("admin.action", { user: "root", action: "CreateTopic", topic: "orders" });
    await new Promise((r) => setImmediate(r));
    const output = text();
    for (const secret of [
      password,
      Buffer.from(`alice:${password}`).toString("base64"),
      jwt,
      "MIGHAgEAMBMG",
    ]) {
      assert.ok(!output.includes(secret), `the output leaks ${secret.slice(0, 12)}…`);
    }
    const lines = output
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.level, "warn");
    assert.equal(lines[0]!.message, "auth.failure");
    assert.equal(lines[0]!.audit, true);
    assert.equal(lines[0]!.user, "alice");
    assert.equal(lines[0]!.password, "[redacted]");
    assert.match(String(lines[0]!.reason), /rejected header Basic \[redacted\] and bearer \[redacted\]/);
    assert.match(String(lines[0]!.detail), /token \[redacted jwt\] seen/);
    assert.equal(lines[1]!.level, "info");
    assert.equal(lines[1]!.topic, "orders");
  });

  test("redact keeps harmless values and bounds what it copies", () => {
    assert.deepEqual(redact({ a: 1, b: "text", c: [true, null] }), { a: 1, b: "text", c: [true, null] });
    assert.equal(String(redact("x".repeat(2000))).length, 513);
    type Deep = { a: { b: { c: { d: unknown } } } };
    assert.equal((redact({ a: { b: { c: { d: { e: 1 } } } } }) as Deep).a.b.c.d, "[nested]");
  });

  test("a sink that throws does not break the caller", () => {
    const audit = createAudit(() => {
      throw new Error("disk full");
    });
    assert.doesNotThrow(() => audit("limit.exceeded", { address: "1.2.3.4" }));
  });
});
