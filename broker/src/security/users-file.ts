import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { UserRecord } from "./authenticator.js";

/** Reads `{users: [{name, passwordHash}]}`; every problem names the file and the entry. */
export function readUsersFile(path: string): UserRecord[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read users file ${path}: ${(err as Error).message}`);
  }
  const users = (doc as { users?: unknown })?.users;
  if (!Array.isArray(users)) throw new Error(`users file ${path} must hold {users: [{name, passwordHash}]}`);
  return users.map((u, i) => {
    const r = u as Partial<UserRecord>;
    if (typeof r.name !== "string" || r.name.length === 0)
      throw new Error(`users file ${path}: users[${i}].name is missing`);
    if (typeof r.passwordHash !== "string" || !r.passwordHash.startsWith("scrypt$")) {
      throw new Error(
        `users file ${path}: users[${i}] (${r.name}) needs a passwordHash made by \`geobroker hash-password\``,
      );
    }
    return { name: r.name, passwordHash: r.passwordHash };
  });
}
