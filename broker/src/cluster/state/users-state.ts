import {
  type AclRole,
  type AclState,
  type AclUser,
  emptyAcl,
  validateAcl,
  withoutRole,
  withoutUser,
  withRole,
  withUser,
} from "../../security/authorization.js";

// Users and grants as replicated cluster state, in the metadata group: every node authenticates and
// authorizes from the same applied state, so nodes can no longer disagree on who may do what. Pure
// and deterministic, like the rest of metadata-state.ts: commands are validated here, at apply, so
// every replica accepts or refuses each one alike. Sources feed it: the users and ACL files (the
// metadata leader proposes `replaceSecurity` when they change), the GeoBrokerUser CRD through the
// operator's files, and admin calls (putUser, deleteUser, putGrants, ...).

/** A user that authenticates with a password: only its scrypt hash is ever stored. */
export interface StoredUser {
  name: string;
  passwordHash: string;
}

export interface SecurityState {
  /** Password users by name. */
  users: Record<string, StoredUser>;
  /** Roles and grants (security/authorization.ts), canonical. */
  acl: AclState;
  /** Bumped on every change: a node tells a new state from the one it applied. */
  version: number;
  /**
   * The fingerprint of the file sources last replaced in: the leader proposes its files only when
   * they differ from it, so admin calls (putUser, ...) stand until the files themselves change.
   */
  sourceFingerprint?: string;
}

export type SecurityCommand =
  | { type: "putUser"; user: StoredUser }
  | { type: "deleteUser"; name: string }
  | { type: "putGrants"; user: AclUser }
  | { type: "deleteGrants"; name: string }
  | { type: "putRole"; role: AclRole }
  | { type: "deleteRole"; name: string }
  /** The whole state from a source (files): users and ACL replaced together. */
  | { type: "replaceSecurity"; users: StoredUser[]; acl: AclState; sourceFingerprint?: string };

/**
 * Names no password user may take: the operator's certificate identity (admin through its client
 * certificate must not also be reachable over basic auth) and node-like system names.
 */
export const reservedUserNames: readonly RegExp[] = [/^geobroker-operator$/, /^system:/, /^geobroker-node-/];

const userNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,252}$/;
const scryptHash = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;
/** Bounds on what one cluster may hold, so one admin mistake cannot make every snapshot huge. */
export const maxUsers = 10_000;
const maxHashChars = 256;

export const emptySecurity = (): SecurityState => ({ users: {}, acl: emptyAcl, version: 0 });

/** A security command's outcome (a MetadataResult; named here so metadata-state.ts can import this file without a cycle). */
export type SecurityOutcome =
  | { ok: true }
  | { ok: false; error: { code: "not_found" | "failed_precondition"; message: string } };

const fail = (message: string): SecurityOutcome => ({
  ok: false,
  error: { code: "failed_precondition", message },
});

/** Why a password user may not be stored as given, or undefined. */
export function userProblem(u: StoredUser): string | undefined {
  if (typeof u?.name !== "string" || !userNamePattern.test(u.name))
    return `user name ${JSON.stringify(String(u?.name).slice(0, 64))} is invalid (letters, digits, . _ @ : / + -)`;
  if (reservedUserNames.some((r) => r.test(u.name))) return `user name "${u.name}" is reserved`;
  if (
    typeof u.passwordHash !== "string" ||
    u.passwordHash.length > maxHashChars ||
    !scryptHash.test(u.passwordHash)
  )
    return `user "${u.name}": passwordHash must be an scrypt hash from geobroker hash-password, never a password`;
  return undefined;
}

/** Applies one command to `state.security` in place (created on first use). */
export function applySecurityCommand(
  holder: { security?: SecurityState },
  cmd: SecurityCommand,
): SecurityOutcome {
  const s = holder.security ?? emptySecurity();
  let next: { users: Record<string, StoredUser>; acl: AclState };
  let source = s.sourceFingerprint;
  try {
    next = { users: { ...s.users }, acl: s.acl };
    switch (cmd.type) {
      case "putUser": {
        const problem = userProblem(cmd.user);
        if (problem) return fail(problem);
        if (!next.users[cmd.user.name] && Object.keys(next.users).length >= maxUsers)
          return fail(`the cluster holds its limit of ${maxUsers} users`);
        next.users[cmd.user.name] = { name: cmd.user.name, passwordHash: cmd.user.passwordHash };
        break;
      }
      case "deleteUser":
        if (!next.users[cmd.name])
          return { ok: false, error: { code: "not_found", message: `no user "${cmd.name}"` } };
        delete next.users[cmd.name];
        break;
      case "putGrants":
        // Grants to a reserved name are allowed: the operator's certificate identity needs admin. A
        // reserved name can never be a password user (userProblem), so basic auth cannot reach it.
        next.acl = withUser(next.acl, cmd.user);
        break;
      case "deleteGrants":
        next.acl = withoutUser(next.acl, cmd.name);
        break;
      case "putRole":
        next.acl = withRole(next.acl, cmd.role);
        break;
      case "deleteRole":
        next.acl = withoutRole(next.acl, cmd.name);
        break;
      case "replaceSecurity": {
        const users: Record<string, StoredUser> = {};
        for (const u of cmd.users.slice(0, maxUsers + 1)) {
          const problem = userProblem(u);
          if (problem) return fail(problem);
          users[u.name] = { name: u.name, passwordHash: u.passwordHash };
        }
        if (Object.keys(users).length > maxUsers) return fail(`more than ${maxUsers} users`);
        next = { users, acl: validateAcl(cmd.acl, "replicated ACL") };
        source = cmd.sourceFingerprint ?? source;
        break;
      }
    }
  } catch (err) {
    // validateAcl's refusals (an undefined role, a bad pattern): the previous state stays.
    return fail((err as Error).message);
  }
  if (sameSecurity(s, next) && source === s.sourceFingerprint) return { ok: true };
  holder.security = {
    users: next.users,
    acl: next.acl,
    version: s.version + 1,
    ...(source !== undefined ? { sourceFingerprint: source } : {}),
  };
  return { ok: true };
}

function sameSecurity(a: SecurityState, b: { users: Record<string, StoredUser>; acl: AclState }): boolean {
  return (
    JSON.stringify(sortedUsers(a.users)) === JSON.stringify(sortedUsers(b.users)) &&
    JSON.stringify(a.acl) === JSON.stringify(b.acl)
  );
}

const sortedUsers = (users: Record<string, StoredUser>) =>
  Object.values(users).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
