import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { parse, stringify } from "yaml";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { basicHeader } from "./hostile-client.js";
import { type LiveNode, startLiveNode } from "./live-node.js";

// Issue #19: removing a user or a grant did not end its open Subscribe/Consume streams.

const passwords = { alice: "alice-password-1", bob: "bob-password-1", ops: "ops-password-1" };
const acl = (readers: string[]) => ({
  roles: [{ name: "reader", rules: [{ actions: ["subscribe"], topics: ["rev"] }] }],
  users: [...readers.map((name) => ({ name, roles: ["reader"] })), { name: "ops", roles: ["admin"] }],
});

describe("hostile input: revocation ends open streams", () => {
  let node: LiveNode;
  let consume: ReturnType<typeof createClient<typeof ConsumeService>>;
  const as = (user: keyof typeof passwords) => ({
    headers: { authorization: basicHeader(user, passwords[user]) },
  });

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "geobroker-revoke-"));
    writeFileSync(join(dir, "acl.yaml"), stringify(acl(["alice", "bob"])));
    node = await startLiveNode({
      dir,
      users: passwords,
      config: { auth: { modes: ["basic"], aclFile: join(dir, "acl.yaml") } },
    });
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${node.clientPort}` });
    consume = createClient(ConsumeService, transport);
    await createClient(TopicService, transport).createTopic({ topic: { name: "rev" } }, as("ops"));
  });
  after(async () => {
    await node?.stop();
    if (node) rmSync(node.dir, { recursive: true, force: true });
  });

  /** Subscribes and resolves with the code the stream ended with, and when. */
  function openStream(user: keyof typeof passwords): Promise<{ code: Code | "ended"; at: number }> {
    return (async () => {
      try {
        for await (const _ of consume.subscribe({ topic: "rev" }, { ...as(user), timeoutMs: 30_000 })) {
        }
        return { code: "ended" as const, at: Date.now() };
      } catch (err) {
        return { code: ConnectError.from(err).code, at: Date.now() };
      }
    })();
  }

  test("a grant removed from the ACL ends the stream with PERMISSION_DENIED within seconds", async () => {
    const stream = openStream("alice");
    await new Promise((r) => setTimeout(r, 1500));
    const revokedAt = Date.now();
    writeFileSync(join(node.dir, "acl.yaml"), stringify(acl(["bob"])));
    const ended = await stream;
    assert.equal(ended.code, Code.PermissionDenied);
    assert.ok(ended.at - revokedAt < 5000, `ended ${ended.at - revokedAt} ms after the revocation`);
  });

  test("a user removed from the users file ends its stream with UNAUTHENTICATED", async () => {
    const stream = openStream("bob");
    await new Promise((r) => setTimeout(r, 1500));
    const usersPath = join(node.dir, "users.yaml");
    const users = parse(readFileSync(usersPath, "utf8")) as { users: { name: string }[] };
    const revokedAt = Date.now();
    writeFileSync(usersPath, stringify({ users: users.users.filter((u) => u.name !== "bob") }));
    const ended = await stream;
    assert.equal(ended.code, Code.Unauthenticated);
    assert.ok(ended.at - revokedAt < 5000, `ended ${ended.at - revokedAt} ms after the removal`);
  });
});
