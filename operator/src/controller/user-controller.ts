import { randomBytes } from "node:crypto";
import { apiVersion, type GeoBrokerCluster, type GeoBrokerUser } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { passwordSecretName } from "../model/users.js";
import { condition } from "../plan/conditions.js";
import { recordEvent } from "./events.js";
import type { Logger } from "./logger.js";

// GeoBrokerUser: makes sure the user has a password Secret (generated once when the user gives
// none) and reports status. The users and ACL files themselves are built by the cluster
// controller from every user of the cluster, so there is exactly one writer of <cluster>-users;
// the runtime enqueues the cluster whenever one of its users changes.

export interface UserControllerDeps {
  kube: KubeClient;
  log: Logger;
  /** Called with "namespace/cluster" so the cluster rewrites its users file. */
  enqueueCluster(key: string): void;
  now?: () => Date;
}

export function generatedPasswordSecret(user: GeoBrokerUser, password: string) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: passwordSecretName(user),
      namespace: user.metadata.namespace,
      labels: {
        "app.kubernetes.io/managed-by": "geobroker-operator",
        "geobroker.io/user": user.metadata.name,
      },
      ownerReferences: [
        {
          apiVersion,
          kind: "GeoBrokerUser",
          name: user.metadata.name,
          uid: user.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    type: "Opaque",
    stringData: { password, username: user.metadata.name },
  };
}

export class UserController {
  constructor(private readonly deps: UserControllerDeps) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split("/") as [string, string];
    const { kube } = this.deps;
    const ref = { apiVersion, kind: "GeoBrokerUser", namespace, name };
    const user = await kube.get<GeoBrokerUser>(ref);
    if (!user) return {};
    const clusterKey = `${namespace}/${user.spec.clusterRef.name}`;
    this.deps.enqueueCluster(clusterKey);
    if (user.metadata.deletionTimestamp) return {};

    const secretName = passwordSecretName(user);
    const secret = await kube.get({ apiVersion: "v1", kind: "Secret", namespace, name: secretName });
    const now = (this.deps.now?.() ?? new Date()).toISOString();
    const setStatus = (ready: boolean, reason: string, message: string) =>
      kube.patchStatus(
        { ...ref, plural: "geobrokerusers" },
        {
          ...(user.metadata.generation !== undefined ? { observedGeneration: user.metadata.generation } : {}),
          secretName,
          conditions: [
            condition(
              "Ready",
              { status: ready, reason, message },
              user.metadata.generation,
              user.status?.conditions,
              now,
            ),
          ],
        },
      );

    if (!secret) {
      if (user.spec.passwordSecretRef) {
        await setStatus(
          false,
          "SecretMissing",
          `Secret ${secretName} (key ${user.spec.passwordSecretRef.key ?? "password"}) does not exist`,
        );
        return { requeueAfterMs: 30_000 };
      }
      // Created, never re-applied: a regenerated password would lock the user's clients out.
      await kube.apply(generatedPasswordSecret(user, randomBytes(24).toString("base64url")));
      await recordEvent(
        kube,
        this.deps.log,
        { ...ref, ...(user.metadata.uid ? { uid: user.metadata.uid } : {}) },
        {
          type: "Normal",
          reason: "PasswordGenerated",
          message: `generated a password in Secret ${secretName}`,
        },
      );
    }
    const cluster = await kube.get<GeoBrokerCluster>({
      apiVersion,
      kind: "GeoBrokerCluster",
      namespace,
      name: user.spec.clusterRef.name,
    });
    if (!cluster) {
      await setStatus(
        false,
        "ClusterMissing",
        `GeoBrokerCluster ${user.spec.clusterRef.name} does not exist`,
      );
      return { requeueAfterMs: 30_000 };
    }
    await setStatus(
      true,
      "Ready",
      `credentials in Secret ${secretName}; ${user.spec.acls.length} ACL rule(s) in the cluster's ACL file`,
    );
    return {};
  }
}
