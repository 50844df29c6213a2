import type { ServiceImpl } from "@connectrpc/connect";
import type { UserService } from "../../../gen/geobroker/v1/users_pb.js";
import type { MetadataCommand, MetadataResult } from "../cluster/state/metadata-state.js";
import type { SecurityState } from "../cluster/state/users-state.js";
import { alreadyExists, invalidArgument, metadataError, notFound } from "../engine/errors.js";

// Admin calls on the replicated users and grants (cluster/users-state.ts). Authorization (cluster
// administration) is the interceptors' job: a method missing from method-permissions.ts needs it.
// Validation that every replica must agree on happens at apply; here only what saves a round trip.

export interface UserAdminPort {
  securityState(): SecurityState | undefined;
  proposeSystem(command: MetadataCommand): Promise<MetadataResult>;
}

const maxRoles = 64;

export function userService(port: UserAdminPort): ServiceImpl<typeof UserService> {
  const apply = async (command: MetadataCommand) => {
    const r = await port.proposeSystem(command);
    if (!r.ok) throw metadataError(r.error);
  };
  const exists = (name: string) => port.securityState()?.users[name] !== undefined;
  const named = (name: string) => {
    if (!name) throw invalidArgument("name is required");
    if (name.length > 253) throw invalidArgument("name is longer than 253 characters");
    return name;
  };
  return {
    async createUser(req) {
      if (exists(named(req.name))) throw alreadyExists(`user "${req.name}" exists: use UpdateUser`);
      await apply({ type: "putUser", user: { name: req.name, passwordHash: req.passwordHash } });
      return {};
    },
    async updateUser(req) {
      if (!exists(named(req.name))) throw notFound(`no user "${req.name}": use CreateUser`);
      await apply({ type: "putUser", user: { name: req.name, passwordHash: req.passwordHash } });
      return {};
    },
    async deleteUser(req) {
      await apply({ type: "deleteUser", name: named(req.name) });
      return {};
    },
    async setGrants(req) {
      if (req.roles.length > maxRoles) throw invalidArgument(`at most ${maxRoles} roles per name`);
      await apply(
        req.roles.length === 0
          ? { type: "deleteGrants", name: named(req.name) }
          : { type: "putGrants", user: { name: named(req.name), roles: [...req.roles] } },
      );
      return {};
    },
    async listUsers() {
      const s = port.securityState();
      const roles = new Map((s?.acl.users ?? []).map((u) => [u.name, u.roles]));
      const names = [...new Set([...Object.keys(s?.users ?? {}), ...roles.keys()])].sort();
      return {
        users: names.map((name) => ({
          name,
          password: s?.users[name] !== undefined,
          roles: roles.get(name) ?? [],
        })),
      };
    },
  };
}
