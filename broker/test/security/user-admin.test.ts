import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { UserService } from "../../../gen/geobroker/v1/users_pb.js";
import { hashPassword } from "../../src/security/passwords.js";
import { basicHeader } from "./hostile-client.js";
import { codeOf, folderWithAcl, writerAndOps } from "./hostile-setup.js";
import { type LiveNode, startLiveNode } from "./live-node.js";

// Issue #19: users and grants as replicated state with CreateUser/UpdateUser/DeleteUser and grants.
// Admin calls stand next to the files (the files only win when they change).

async function eventually(what: string, f: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("user administration through the metadata group", () => {
  let node: LiveNode;
  let users: ReturnType<typeof createClient<typeof UserService>>;
  let publish: ReturnType<typeof createClient<typeof PublishService>>;
  const ops = { headers: { authorization: basicHeader("ops", "ops-password-1") } };
  const carol = (password = "carol-password-1") => ({
    headers: { authorization: basicHeader("carol", password) },
  });
  const body = new TextEncoder().encode("x");

  before(async () => {
    const { dir, aclFile } = folderWithAcl("users", writerAndOps(["*"]));
    node = await startLiveNode({
      dir,
      users: { ops: "ops-password-1", writer: "writer-password-1" },
      config: { auth: { modes: ["basic"], aclFile } },
    });
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${node.clientPort}` });
    users = createClient(UserService, transport);
    publish = createClient(PublishService, transport);
    await eventually("the files replicated", async () => (await users.listUsers({}, ops)).users.length > 0);
  });
  after(async () => {
    await node?.stop();
    if (node) rmSync(node.dir, { recursive: true, force: true });
  });

  test("create, grant, update, delete: each takes effect, and the files do not undo it", async () => {
    await publish.publish({ topic: "t", body }, ops); // creates t (ops has create; writers do not)
    await users.createUser({ name: "carol", passwordHash: await hashPassword("carol-password-1") }, ops);
    assert.equal(
      await codeOf(users.createUser({ name: "carol", passwordHash: await hashPassword("x") }, ops)),
      Code.AlreadyExists,
    );
    await eventually(
      "carol authenticates",
      async () => (await codeOf(publish.publish({ topic: "t", body }, carol()))) === Code.PermissionDenied,
    );
    await users.setGrants({ name: "carol", roles: ["w"] }, ops);
    await eventually(
      "carol may publish",
      async () => (await codeOf(publish.publish({ topic: "t", body }, carol()))) === "ok",
    );
    await new Promise((r) => setTimeout(r, 1500)); // several sync ticks: the files must not revert it
    assert.equal(await codeOf(publish.publish({ topic: "t", body }, carol())), "ok");
    assert.deepEqual(
      (await users.listUsers({}, ops)).users.find((u) => u.name === "carol"),
      { $typeName: "geobroker.v1.UserInfo", name: "carol", password: true, roles: ["w"] },
    );
    await users.updateUser({ name: "carol", passwordHash: await hashPassword("carol-password-2") }, ops);
    await eventually(
      "the old password fails",
      async () => (await codeOf(publish.publish({ topic: "t", body }, carol()))) === Code.Unauthenticated,
    );
    assert.equal(await codeOf(publish.publish({ topic: "t", body }, carol("carol-password-2"))), "ok");
    await users.deleteUser({ name: "carol" }, ops);
    await eventually(
      "carol is gone",
      async () =>
        (await codeOf(publish.publish({ topic: "t", body }, carol("carol-password-2")))) ===
        Code.Unauthenticated,
    );
  });

  test("refusals: non-admins, clear-text passwords, reserved names, unknown roles", async () => {
    const writer = { headers: { authorization: basicHeader("writer", "writer-password-1") } };
    assert.equal(await codeOf(users.listUsers({}, writer)), Code.PermissionDenied);
    assert.equal(
      await codeOf(users.createUser({ name: "dave", passwordHash: await hashPassword("x") }, writer)),
      Code.PermissionDenied,
    );
    assert.equal(
      await codeOf(users.createUser({ name: "dave", passwordHash: "hunter2" }, ops)),
      Code.FailedPrecondition,
    );
    assert.equal(
      await codeOf(
        users.createUser({ name: "geobroker-operator", passwordHash: await hashPassword("x") }, ops),
      ),
      Code.FailedPrecondition,
    );
    assert.equal(
      await codeOf(users.setGrants({ name: "dave", roles: ["no-such-role"] }, ops)),
      Code.FailedPrecondition,
    );
    assert.equal(
      await codeOf(users.updateUser({ name: "nobody", passwordHash: await hashPassword("x") }, ops)),
      Code.NotFound,
    );
  });
});
