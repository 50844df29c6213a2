import { createHash, scryptSync } from "node:crypto";
import type { GeoBrokerUser } from "../api/types.js";
import type { UserEntry } from "./users-secret.js";

// Password hashes for the brokers' users file, in the broker's format (scrypt$N$r$p$salt$hash,
// broker/src/security/passwords.ts). The salt is derived from the user's identity and password
// instead of drawn at random, so an unchanged user hashes to the same text on every reconcile
// and the users Secret is not rewritten (which would look like a change to every broker).

const params = { N: 16384, r: 8, p: 1 };

export function deterministicHash(password: string, identity: string): string {
  const salt = createHash("sha256")
    .update(`geobroker-user-salt\0${identity}\0${password}`)
    .digest()
    .subarray(0, 16);
  const hash = scryptSync(password, salt, 32, { ...params, maxmem: 64 * 1024 * 1024 });
  return ["scrypt", params.N, params.r, params.p, salt.toString("base64"), hash.toString("base64")].join("$");
}

export function userEntry(user: GeoBrokerUser, password: string): UserEntry {
  const identity = `${user.metadata.namespace}/${user.metadata.name}/${user.metadata.uid ?? ""}`;
  return {
    name: user.metadata.name,
    passwordHash: deterministicHash(password, identity),
    acls: user.spec.acls.map((a) => ({ topicPattern: a.topicPattern, permissions: [...a.permissions] })),
  };
}

export function passwordSecretName(user: GeoBrokerUser): string {
  return user.spec.passwordSecretRef?.name ?? `${user.metadata.name}-password`;
}
