import { parse as parseYaml } from "yaml";
import type { Principal } from "./authenticator.js";

// Who may do what on which topics. Pure: the state is plain data (JSON-serializable, so the metadata
// group can replicate it), the decision is a function of (state, principal, action, topic).

// `consume` is the durable-consumer permission (Kafka's group ACL): it needs the topic and the
// consumer's name to match. `create` lets a publish create a missing topic (auto-create) and
// CreateTopic make one, without the rest of topic administration.
export const actions = ["publish", "subscribe", "consume", "create", "admin"] as const;
export type Action = (typeof actions)[number];

/** A rule grants its actions on every topic that matches one of its patterns. */
export interface AclRule {
  actions: Action[];
  /** Exact names (`orders`), prefixes (`orders.*` matches `orders.eu`, `orders.eu.paid`), or `*`. */
  topics: string[];
  /** Consumer name patterns, as topics': required by, and only used for, the `consume` action. */
  consumers?: string[];
}

export interface AclRole {
  name: string;
  rules: AclRule[];
}

export interface AclUser {
  name: string;
  roles: string[];
}

/** The whole authorization state. Roles and users are sorted by name in canonical form. */
export interface AclState {
  roles: AclRole[];
  users: AclUser[];
}

/** The built-in role: every action on every topic, and cluster administration. */
export const adminRole = "admin";

const builtInRoles: AclRole[] = [
  { name: adminRole, rules: [{ actions: [...actions], topics: ["*"], consumers: ["*"] }] },
];

export type Decision = { allowed: true; role: string } | { allowed: false; reason: string };

export interface Authorizer {
  /**
   * May `principal` do `action` on `topic`? Without a topic, `admin` means cluster administration,
   * which needs a rule granting admin on `*`. `consume` also needs the consumer's name to match.
   */
  authorize(principal: Principal, action: Action, topic?: string, consumer?: string): Decision;
}

/** For `auth.mode: none` in development: everything is allowed. Production mode never uses it. */
export const allowAll: Authorizer = {
  authorize: () => ({ allowed: true, role: "(authorization disabled)" }),
};

export const emptyAcl: AclState = { roles: [], users: [] };

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,252}$/;
// Topic characters as in api/validate.ts, optionally ending in one `*`.
const topicPattern = /^(\*|[a-zA-Z0-9._-]{1,249}\*?)$/;

/** Checks a state and returns it in canonical form; every problem names where it is. */
export function validateAcl(input: unknown, source = "ACL"): AclState {
  const doc = (input ?? {}) as { roles?: unknown; users?: unknown };
  if (typeof doc !== "object" || Array.isArray(doc)) throw new Error(`${source} must be a mapping`);
  const roles = listOf(doc.roles, `${source}: roles`).map((r, i) =>
    validateRole(r, `${source}: roles[${i}]`),
  );
  const roleNames = new Set([adminRole]);
  for (const r of roles) {
    if (roleNames.has(r.name)) {
      throw new Error(
        r.name === adminRole
          ? `${source}: role "${adminRole}" is built in (all actions on all topics) and cannot be redefined`
          : `${source}: role "${r.name}" is defined twice`,
      );
    }
    roleNames.add(r.name);
  }
  const seenUsers = new Set<string>();
  const users = listOf(doc.users, `${source}: users`).map((u, i) => {
    const where = `${source}: users[${i}]`;
    const user = u as Partial<AclUser>;
    if (typeof user?.name !== "string" || !namePattern.test(user.name))
      throw new Error(`${where}.name must be a user name (letters, digits, . _ @ : / + -)`);
    if (seenUsers.has(user.name)) throw new Error(`${where}: user "${user.name}" is listed twice`);
    seenUsers.add(user.name);
    const userRoles = listOf(user.roles, `${where}.roles`).map((r) => {
      if (typeof r !== "string" || !roleNames.has(r)) {
        throw new Error(
          `${where} (${user.name}): role ${JSON.stringify(r)} is not defined; defined roles: ${[...roleNames].join(", ")}`,
        );
      }
      return r;
    });
    return { name: user.name, roles: [...new Set(userRoles)].sort() };
  });
  return {
    roles: roles.sort((a, b) => compare(a.name, b.name)),
    users: users.sort((a, b) => compare(a.name, b.name)),
  };
}

function validateRole(input: unknown, where: string): AclRole {
  const role = input as Partial<AclRole>;
  if (typeof role?.name !== "string" || !namePattern.test(role.name))
    throw new Error(`${where}.name must be a role name (letters, digits, . _ @ : / + -)`);
  const rules = listOf(role.rules, `${where}.rules`).map((r, j) => {
    const rule = r as Partial<AclRule>;
    const at = `${where} (${role.name}).rules[${j}]`;
    const ruleActions = listOf(rule?.actions, `${at}.actions`);
    for (const a of ruleActions) {
      if (!actions.includes(a as Action))
        throw new Error(`${at}: action ${JSON.stringify(a)} is unknown; use ${actions.join(", ")}`);
    }
    const topics = listOf(rule?.topics, `${at}.topics`);
    for (const t of topics) {
      if (typeof t !== "string" || !topicPattern.test(t)) {
        throw new Error(
          `${at}: topic pattern ${JSON.stringify(t)} is invalid; use an exact name, a prefix ending in * (orders.*), or *`,
        );
      }
    }
    if (ruleActions.length === 0 || topics.length === 0)
      throw new Error(`${at} grants nothing: it needs at least one action and one topic pattern`);
    const consumers = listOf(rule?.consumers, `${at}.consumers`);
    for (const c of consumers) {
      if (typeof c !== "string" || !topicPattern.test(c))
        throw new Error(
          `${at}: consumer pattern ${JSON.stringify(c)} is invalid; use an exact name, a prefix ending in * (billing-*), or *`,
        );
    }
    if (ruleActions.includes("consume") !== consumers.length > 0)
      throw new Error(
        consumers.length > 0
          ? `${at}: consumers are only used by the consume action; add it or remove them`
          : `${at}: the consume action needs consumer name patterns (consumers: [...])`,
      );
    return {
      actions: [...new Set(ruleActions as Action[])].sort(),
      topics: [...new Set(topics as string[])].sort(),
      ...(consumers.length > 0 ? { consumers: [...new Set(consumers as string[])].sort() } : {}),
    };
  });
  return { name: role.name, rules };
}

function listOf(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${where} must be a list`);
  return value;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The ACL file (YAML): `{roles: [{name, rules: [{actions, topics}]}], users: [{name, roles}]}`. */
export function parseAcl(text: string, source = "ACL"): AclState {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`cannot parse ${source} as YAML: ${(err as Error).message}`);
  }
  return validateAcl(doc, source);
}

/** Canonical JSON: equal states give equal strings, so replicas can compare what they hold. */
export function serializeAcl(state: AclState): string {
  return JSON.stringify(validateAcl(state));
}

export function deserializeAcl(json: string): AclState {
  return validateAcl(JSON.parse(json), "replicated ACL");
}

/** True when `topic` matches a pattern: exact, `prefix*`, or `*`. */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}

/**
 * The decision function over a state, with roles indexed once. Roles named by the credential
 * (`principal.roles`, e.g. from a JWT claim) add to the ACL's; unknown role names grant nothing.
 * Anything not granted by a rule is denied.
 */
export class AccessPolicy implements Authorizer {
  private readonly roles: Map<string, AclRole>;
  private readonly users: Map<string, AclUser>;

  constructor(readonly state: AclState) {
    this.roles = new Map([...builtInRoles, ...state.roles].map((r) => [r.name, r]));
    this.users = new Map(state.users.map((u) => [u.name, u]));
  }

  /**
   * A credential's roles (a JWT claim) never include the built-in admin role: administration is
   * granted only by name in the ACL, so an identity provider's `roles: [admin]` is not a cluster key.
   */
  rolesOf(principal: Principal): string[] {
    const claimed = (principal.roles ?? []).filter((r) => r !== adminRole);
    return [...new Set([...(this.users.get(principal.name)?.roles ?? []), ...claimed])];
  }

  authorize(principal: Principal, action: Action, topic?: string, consumer?: string): Decision {
    for (const roleName of this.rolesOf(principal)) {
      const role = this.roles.get(roleName);
      if (!role) continue;
      for (const rule of role.rules) {
        if (!rule.actions.includes(action)) continue;
        const onTopic =
          topic === undefined ? rule.topics.includes("*") : rule.topics.some((p) => topicMatches(p, topic));
        const onConsumer =
          action !== "consume" ||
          (consumer !== undefined && (rule.consumers ?? []).some((p) => topicMatches(p, consumer)));
        if (onTopic && onConsumer) return { allowed: true, role: roleName };
      }
    }
    const what =
      topic === undefined
        ? "cluster administration"
        : action === "consume"
          ? `consume as consumer "${consumer ?? ""}" on topic "${topic}"`
          : `${action} on topic "${topic}"`;
    return { allowed: false, reason: `user "${principal.name}" is not allowed ${what}` };
  }
}

/** Adds or replaces one user, as an admin call through the metadata group would. */
export function withUser(state: AclState, user: AclUser): AclState {
  return validateAcl({ ...state, users: [...state.users.filter((u) => u.name !== user.name), user] });
}

export function withoutUser(state: AclState, name: string): AclState {
  return validateAcl({ ...state, users: state.users.filter((u) => u.name !== name) });
}

/** Adds or replaces one role; removing a role still in use is refused by validation. */
export function withRole(state: AclState, role: AclRole): AclState {
  return validateAcl({ ...state, roles: [...state.roles.filter((r) => r.name !== role.name), role] });
}

export function withoutRole(state: AclState, name: string): AclState {
  return validateAcl({ ...state, roles: state.roles.filter((r) => r.name !== name) });
}
