import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { NodeConfig } from "../config/config.js";
import type { Audit } from "../security/audit.js";
import { AuthThrottle } from "../security/auth-throttle.js";
import {
  type Authenticator,
  anonymousAuthenticator,
  BasicAuthenticator,
  type UserRecord,
} from "../security/authenticator.js";
import {
  AccessPolicy,
  type AclState,
  type Authorizer,
  allowAll,
  emptyAcl,
} from "../security/authorization.js";
import { CertificateAuthenticator, chainAuthenticators } from "../security/client-cert.js";
import {
  WatchedFiles,
  type WatchOptions,
  watchAclFile,
  watchJwtKey,
  watchUsersFile,
} from "../security/file-watch.js";
import { JwksUrlSource } from "../security/jwks-url.js";
import { JwtAuthenticator, parseJwks, readJwtKeyFile } from "../security/jwt.js";
import { ScryptWorkers } from "../security/scrypt-workers.js";

// The composition of the security building blocks for one node, from its configuration: who is
// calling (the authenticator chain over auth.modes) and what they may do (the ACL file, or
// everything when no ACL is configured outside production). Files are watched and reloaded.

export interface NodeSecurity {
  authenticator: Authenticator;
  authorizer: Authorizer;
  /** True when the client port must ask for client certificates (certificate mode). */
  requestClientCert: boolean;
  /** Bounds password checks and locks out failing addresses, for every port that authenticates. */
  throttle: AuthThrottle;
  /** What the users and ACL files say now (a source the metadata group is fed from); undefined without files. */
  fileSource(): { users: UserRecord[]; acl: AclState } | undefined;
  /**
   * From now on, users and grants come from the replicated state (every node alike); file changes
   * only reach it through the metadata group.
   */
  applyReplicated(users: UserRecord[], acl: AclState): void;
  close(): void;
}

export interface NodeSecurityOptions {
  audit: Audit;
  /** Poll period of the watched files (tests shorten it). */
  pollMs?: number;
}

export function buildNodeSecurity(config: NodeConfig, o: NodeSecurityOptions): NodeSecurity {
  const watched: WatchedFiles<unknown>[] = [];
  const watch = (what: string): WatchOptions => ({
    ...(o.pollMs ? { pollMs: o.pollMs } : {}),
    onReload: (paths) => o.audit("security.reload", { what, paths }),
    onError: (err, paths) => o.audit("security.reload_failed", { what, paths, error: err.message }),
  });
  const { auth } = config;
  let replicated = false;
  const closers: (() => void)[] = [];
  let fileUsers: UserRecord[] | undefined;
  let basic: BasicAuthenticator | undefined;
  const throttle = new AuthThrottle(config.limits.auth);
  // One thread per concurrent check: scrypt never occupies libuv's pool, which storage needs.
  const scrypt = new ScryptWorkers(config.limits.auth.maxConcurrent);
  try {
    const authenticator = auth.modes.includes("none")
      ? anonymousAuthenticator
      : chainAuthenticators({
          ...(auth.modes.includes("basic") ? { basic: basicFrom(auth.usersFile!) } : {}),
          ...(auth.modes.includes("bearer") ? { bearer: bearerFrom() } : {}),
          ...(auth.modes.includes("certificate")
            ? { certificate: new CertificateAuthenticator(auth.certificateIdentity) }
            : {}),
        });
    let policy: Authorizer = allowAll;
    let fileAcl: AclState | undefined;
    if (auth.aclFile)
      watched.push(
        watchAclFile(
          auth.aclFile,
          (state) => {
            fileAcl = state;
            if (!replicated) policy = new AccessPolicy(state);
          },
          watch("acl"),
        ),
      );
    return {
      authenticator,
      // Reads the policy at each call, so an ACL reload applies to the next call.
      authorizer: {
        authorize: (principal, action, topic, consumer) =>
          policy.authorize(principal, action, topic, consumer),
      },
      requestClientCert: auth.modes.includes("certificate"),
      throttle,
      fileSource: () =>
        auth.usersFile || auth.aclFile ? { users: fileUsers ?? [], acl: fileAcl ?? emptyAcl } : undefined,
      applyReplicated: (users, acl) => {
        replicated = true;
        basic?.setUsers(users);
        // Without an ACL file authorization is off on this node (development), replicated or not.
        if (auth.aclFile) policy = new AccessPolicy(acl);
      },
      close: () => {
        for (const w of watched) w.close();
        for (const c of closers) c();
        void scrypt.close();
      },
    };
  } catch (err) {
    for (const w of watched) w.close();
    throw err;
  }

  function basicFrom(path: string): Authenticator {
    const b = new BasicAuthenticator([], { runCheck: (check) => throttle.run(check), derive: scrypt.derive });
    basic = b;
    const target = {
      setUsers: (users: UserRecord[]) => {
        fileUsers = users;
        if (!replicated) b.setUsers(users);
      },
    };
    watched.push(watchUsersFile(path, target, watch("users")));
    return b;
  }

  function bearerFrom(): Authenticator {
    const jwt = auth.jwt!;
    const bearer = new JwtAuthenticator({
      algorithm: jwt.algorithm,
      ...(jwt.keyFile ? { key: readJwtKeyFile(jwt.algorithm, jwt.keyFile) } : {}),
      ...(jwt.maxLifetimeSeconds !== undefined ? { maxLifetimeSeconds: jwt.maxLifetimeSeconds } : {}),
      ...(jwt.issuer !== undefined ? { issuer: jwt.issuer } : {}),
      ...(jwt.audience !== undefined ? { audience: jwt.audience } : {}),
      ...(jwt.leewaySeconds !== undefined ? { leewaySeconds: jwt.leewaySeconds } : {}),
      ...(jwt.nameClaim !== undefined ? { nameClaim: jwt.nameClaim } : {}),
      ...(jwt.rolesClaim !== undefined ? { rolesClaim: jwt.rolesClaim } : {}),
    });
    if (jwt.keyFile) watched.push(watchJwtKey(jwt.algorithm, jwt.keyFile, bearer, watch("jwt key")));
    else if (jwt.jwksUrl) {
      bearer.setKeys(new Map());
      const source = new JwksUrlSource({
        url: jwt.jwksUrl,
        algorithm: jwt.algorithm,
        ...(jwt.jwksRefreshSeconds ? { refreshMs: jwt.jwksRefreshSeconds * 1000 } : {}),
        onKeys: (keys) => {
          bearer.setKeys(keys);
          o.audit("security.reload", { what: "jwks", url: jwt.jwksUrl });
        },
        onError: (message) => o.audit("security.reload_failed", { what: "jwks", error: message }),
      });
      bearer.onUnknownKid(() => source.unknownKid());
      void source.refresh();
      closers.push(() => source.close());
    } else {
      const path = jwt.jwksFile!;
      const jwks: WatchedFiles<Map<string, KeyObject>> = new WatchedFiles(
        [path],
        () => parseJwks(jwt.algorithm, readFileSync(path, "utf8"), `JWKS file ${path}`),
        {
          ...watch("jwks"),
          onReload: (paths) => {
            bearer.setKeys(jwks.current());
            o.audit("security.reload", { what: "jwks", paths });
          },
        },
      );
      bearer.setKeys(jwks.current());
      watched.push(jwks);
    }
    return bearer;
  }
}
