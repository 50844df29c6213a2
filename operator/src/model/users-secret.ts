import type { GeoBrokerCluster } from "../api/types.js";
import type { KubeObject } from "./kube-object.js";
import { names } from "./names.js";
import { meta } from "./object-meta.js";
import { operatorIdentity } from "./tls.js";

export interface UserEntry {
  name: string;
  passwordHash: string;
  acls: { topicPattern: string; permissions: string[] }[];
}

/**
 * The users file and ACL file the brokers read (formats of broker/src/security/users-file.ts and
 * authorization.ts). Each GeoBrokerUser gets a role of its own named `user:<name>`.
 */
export function usersSecret(cluster: GeoBrokerCluster, users: UserEntry[]): KubeObject {
  const sorted = [...users].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const usersYaml = { users: sorted.map((u) => ({ name: u.name, passwordHash: u.passwordHash })) };
  const aclYaml = {
    roles: sorted.map((u) => ({
      name: `user:${u.name}`,
      rules: u.acls.map((a) => ({ actions: [...a.permissions].sort(), topics: [a.topicPattern] })),
    })),
    users: [
      // The operator's own admin calls (membership changes) authenticate with its client certificate.
      { name: operatorIdentity, roles: ["admin"] },
      ...sorted
        .filter((u) => u.name !== operatorIdentity)
        .map((u) => ({ name: u.name, roles: [`user:${u.name}`] })),
    ],
  };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(cluster, names.usersSecret(cluster.metadata.name)),
    type: "Opaque",
    stringData: { "users.yaml": toYamlJson(usersYaml), "acl.yaml": toYamlJson(aclYaml) },
  };
}

/** JSON is valid YAML and has one canonical form, so an unchanged user set applies as a no-op. */
function toYamlJson(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}
