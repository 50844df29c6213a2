import { createHash } from "node:crypto";
import type { MetadataCommand, MetadataResult } from "../cluster/state/metadata-state.js";
import { type SecurityState, type StoredUser, userProblem } from "../cluster/state/users-state.js";
import type { UserRecord } from "../security/authenticator.js";
import { type AclState, serializeAcl } from "../security/authorization.js";

// The loop between a node's security sources (files, which the operator fills from Secrets and the
// GeoBrokerUser CRD) and the replicated state in the metadata group. Level-triggered: every tick,
// (1) a new replicated version is applied here, so every node authenticates and authorizes from the
// same state, and (2) the metadata leader, and only it, proposes its sources when they differ from
// what is replicated. A node whose files lag behind still decides as the cluster does.

export interface SecurityNode {
  securityState(): SecurityState | undefined;
  leadsMetadata(): boolean;
  proposeSystem(command: MetadataCommand): Promise<MetadataResult>;
}

export interface SecurityTarget {
  fileSource(): { users: UserRecord[]; acl: AclState } | undefined;
  applyReplicated(users: UserRecord[], acl: AclState): void;
}

/** A digest of the canonical users and ACL: equal content, equal fingerprint. */
export function securityFingerprint(users: readonly StoredUser[], acl: AclState): string {
  const sorted = [...users]
    .map((u) => ({ name: u.name, passwordHash: u.passwordHash }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return createHash("sha256")
    .update(JSON.stringify([sorted, serializeAcl(acl)]))
    .digest("hex");
}

export class ReplicatedSecurity {
  private appliedVersion = -1;
  private proposing = false;
  private reported = "";
  private refused: string | undefined;

  constructor(
    private readonly node: SecurityNode,
    private readonly target: SecurityTarget,
    private readonly onError: (message: string) => void = () => {},
  ) {}

  tick(): void {
    const state = this.node.securityState();
    if (state && state.version !== this.appliedVersion) {
      this.appliedVersion = state.version;
      this.target.applyReplicated(Object.values(state.users), state.acl);
    }
    const files = this.target.fileSource();
    if (!files || this.proposing || !this.node.leadsMetadata()) return;
    // One bad entry (a reserved name) must not freeze everyone else's changes: it is left out, loudly.
    const problems = files.users.map(userProblem);
    const users = files.users.filter((_, i) => problems[i] === undefined);
    const report = problems.filter((p) => p !== undefined).join("; ");
    if (report && report !== this.reported) this.onError(`left out of the replicated users: ${report}`);
    this.reported = report;
    const source = { users, acl: files.acl };
    // Compared with the sources last replaced in, not with the state: admin calls stand until the
    // files change.
    const wanted = securityFingerprint(source.users, source.acl);
    // A refused source is not proposed again until it changes: no metadata entry every tick.
    if (state?.sourceFingerprint === wanted || this.refused === wanted) return;
    this.proposing = true;
    this.node
      .proposeSystem({
        type: "replaceSecurity",
        users: source.users,
        acl: source.acl,
        sourceFingerprint: wanted,
      })
      .then(
        (r) => {
          if (r.ok) return;
          this.refused = wanted;
          this.onError(`the users/ACL files were refused by the metadata group: ${r.error.message}`);
        },
        (err: Error) => this.onError(`proposing the users/ACL files failed: ${err.message}`),
      )
      .finally(() => {
        this.proposing = false;
      });
  }
}
