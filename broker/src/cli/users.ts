import { hashPassword } from "../security/passwords.js";
import { clientCommand, UsageError } from "./client-command.js";
import { readStdin } from "./read-stdin.js";

/** The new password: --password-stdin reads it, else GEOBROKER_NEW_PASSWORD (never a flag: ps shows flags). */
async function newPassword(values: Record<string, unknown>): Promise<string> {
  const password = values["password-stdin"]
    ? (await readStdin()).replace(/\r?\n$/, "")
    : process.env.GEOBROKER_NEW_PASSWORD;
  if (!password)
    throw new UsageError("give the new password on stdin with --password-stdin (or GEOBROKER_NEW_PASSWORD)");
  return password;
}

export const usersCommand = clientCommand({
  name: "users",
  summary: "list, create, change and delete password users (replicated cluster state)",
  usage: `geobroker users list
geobroker users create NAME --password-stdin [--role R ...]
geobroker users passwd NAME --password-stdin
geobroker users delete NAME

  The password is hashed (scrypt) here; only the hash travels. --role grants roles as \`acl grant\` does.`,
  options: {
    "password-stdin": { type: "boolean", default: false },
    role: { type: "string", multiple: true },
  },
  async run(c, values, positionals) {
    const [verb, name] = positionals;
    const need = () => {
      if (!name) throw new UsageError(`users ${verb} needs a user name`);
      return name;
    };
    switch (verb) {
      case "list":
      case undefined: {
        const users = await c.client.admin.listUsers();
        if (users.length === 0) console.log("no users");
        for (const u of users)
          console.log(
            `${u.name}  ${u.password ? "password" : "grants only"}  roles ${u.roles.join(",") || "-"}`,
          );
        return 0;
      }
      case "create": {
        const n = need();
        await c.client.admin.createUser(n, await hashPassword(await newPassword(values)));
        const roles = (values.role as string[] | undefined) ?? [];
        if (roles.length > 0) await c.client.admin.setGrants(n, roles);
        console.log(`created ${n}${roles.length > 0 ? ` with roles ${roles.join(",")}` : ""}`);
        return 0;
      }
      case "passwd": {
        const n = need();
        await c.client.admin.updateUser(n, await hashPassword(await newPassword(values)));
        console.log(`changed the password of ${n}`);
        return 0;
      }
      case "delete": {
        const n = need();
        await c.client.admin.deleteUser(n);
        console.log(`deleted ${n}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown users command "${verb}"`);
    }
  },
});

export const aclCommand = clientCommand({
  name: "acl",
  summary: "show and set the roles granted to users, token subjects and certificate names",
  usage: `geobroker acl list
geobroker acl grant NAME ROLE...     (replaces the roles NAME had)
geobroker acl revoke NAME            (removes every grant of NAME)

  Roles are defined in the ACL file (docs/security.md); this sets who has them.`,
  options: {},
  async run(c, _values, positionals) {
    const [verb, name, ...roles] = positionals;
    switch (verb) {
      case "list":
      case undefined: {
        const users = await c.client.admin.listUsers();
        const granted = users.filter((u) => u.roles.length > 0);
        if (granted.length === 0) console.log("no grants");
        for (const u of granted) console.log(`${u.name}  ${u.roles.join(",")}`);
        return 0;
      }
      case "grant":
        if (!name || roles.length === 0) throw new UsageError("acl grant needs a name and at least one role");
        await c.client.admin.setGrants(name, roles);
        console.log(`${name}: ${roles.join(",")}`);
        return 0;
      case "revoke":
        if (!name) throw new UsageError("acl revoke needs a name");
        await c.client.admin.setGrants(name, []);
        console.log(`${name}: no roles`);
        return 0;
      default:
        throw new UsageError(`unknown acl command "${verb}"`);
    }
  },
});
