import type { CertificateIdentity } from "./client-cert.js";
import type { JwtAlgorithm } from "./jwt.js";
import { jwtAlgorithms } from "./jwt.js";
import type { PeerEnrollConfig } from "./peer-enrollment.js";

// The security sections of a node's configuration (config/config.ts re-exports them).

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** The client port's TLS files. */
export interface ClientTlsFiles extends TlsFiles {
  /** `ca` verifies client certificates; with it, every client must present one. */
  requireClientCert: boolean;
  /**
   * The CA the client ports' server certificates chain to, when it is not `ca` (the operator keeps
   * server and client certificates under separate CAs): what a node verifies another node's client
   * port against when it forwards a call. Default: `ca`.
   */
  serverCa?: string;
}

/** The peer port's mTLS files and which certificate identities count as cluster nodes. */
export interface PeerTlsFiles extends TlsFiles {
  /**
   * Identity patterns (CN or SAN; `*` matches any run of characters) a peer's certificate must
   * carry besides chaining to `ca`. Default: every node id in `peers` and `*.<clusterId>`.
   */
  allowedIdentities?: string[];
  /**
   * Identity patterns of a certificate that several nodes share (the operator's `<clusterId>-peer`).
   * Such a connection is bound to no node id: its Raft messages may name any sender. Default: none,
   * so every peer connection is bound to its certificate's CN (docs/security.md, "Peer port").
   */
  sharedIdentities?: string[];
  /**
   * Get `cert` and `key` from the operator instead of reading them (Kubernetes): the node asks for
   * CN=<node id> with its pod's service-account token before the peer port opens, and renews at two
   * thirds of the lifetime (security/peer-enrollment.ts). `cert` and `key` must be writable.
   */
  enroll?: PeerEnrollConfig;
}

/** How callers prove who they are on the client port (docs/security.md). */
export type AuthMode = "basic" | "bearer" | "certificate" | "none";

export interface JwtConfig {
  algorithm: JwtAlgorithm;
  /** PEM public key or certificate (RS256/ES256), raw secret (HS256). Reloaded on change. */
  keyFile?: string;
  /** A JWKS document (RS256/ES256): the token's `kid` selects the key. Reloaded on change. */
  jwksFile?: string;
  /** A JWKS URL (in-cluster IdP), fetched and cached; refreshed every jwksRefreshSeconds and on an unknown kid. */
  jwksUrl?: string;
  jwksRefreshSeconds?: number;
  /** Longest token lifetime accepted (exp - iat), seconds. Default 86,400. */
  maxLifetimeSeconds?: number;
  issuer?: string;
  audience?: string | string[];
  leewaySeconds?: number;
  nameClaim?: string;
  rolesClaim?: string;
}

export interface AuthConfig {
  /** Accepted modes; validateConfig fills it from the older `mode: basic|none`. */
  modes: AuthMode[];
  usersFile?: string;
  /** Roles and grants (YAML). Without it every authenticated caller may do everything. */
  aclFile?: string;
  /** File holding the token /metrics then requires (`authorization: bearer <token>`); re-read on change. */
  metricsTokenFile?: string;
  /** Which certificate name is the principal in `certificate` mode. */
  certificateIdentity: CertificateIdentity;
  jwt?: JwtConfig;
}

/** Connection limits of the client port (security/limits.ts). */
export interface ConnectionLimits {
  maxSessionsPerAddress: number;
  maxSessions: number;
  idleSessionMs: number;
  requestBodyMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS on the client port. */
  maxConcurrentStreams: number;
  /** Open streaming calls one principal may hold on a node. */
  maxStreamsPerPrincipal: number;
  /** A TLS handshake not finished within this is dropped (it holds a connection slot meanwhile). */
  handshakeMs: number;
}

/**
 * What one cluster may hold, checked where a topic or consumer is made (the node's view of the
 * metadata): a caller cannot grow every node's metadata without bound.
 */
export interface Quotas {
  maxTopics: number;
  maxPartitionsPerTopic: number;
  maxConsumersPerTopic: number;
  /** Topics one principal may have created. */
  maxTopicsPerPrincipal: number;
  /** Partitions over the topics one principal created. */
  maxPartitionsPerPrincipal: number;
  /** Durable consumers one principal may have created, over all topics. */
  maxConsumersPerPrincipal: number;
}

/** Bounds on credential checks before authentication (security/auth-throttle.ts). */
export interface AuthLimits {
  maxConcurrent: number;
  maxQueued: number;
  maxFailures: number;
  failureWindowMs: number;
  lockoutMs: number;
}

// Validation of the security keys of a node's configuration (auth.*, tls.*, limits.connections),
// kept apart from config/load.ts so the rules sit next to the code they configure. Pure: it reads a
// merged configuration object and reports every problem with its key path.

export const authModes: readonly AuthMode[] = ["basic", "bearer", "certificate", "none"];

export const defaultConnectionLimits: ConnectionLimits = {
  maxSessionsPerAddress: 64,
  maxSessions: 10_000,
  idleSessionMs: 300_000,
  requestBodyMs: 30_000,
  maxConcurrentStreams: 100,
  maxStreamsPerPrincipal: 1000,
  handshakeMs: 10_000,
};

export const defaultQuotas: Quotas = {
  maxTopics: 10_000,
  maxPartitionsPerTopic: 1024,
  maxConsumersPerTopic: 256,
  maxTopicsPerPrincipal: 1000,
  maxPartitionsPerPrincipal: 4096,
  maxConsumersPerPrincipal: 1024,
};

export const defaultAuthLimits: AuthLimits = {
  maxConcurrent: 2,
  maxQueued: 64,
  maxFailures: 20,
  failureWindowMs: 60_000,
  lockoutMs: 60_000,
};

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

export interface SecurityCheck {
  problems: string[];
  /** `auth` with `modes` filled in (from the older `auth.mode` when only that was given). */
  auth: AuthConfig;
}

/** Checks auth, tls and limits.connections of a merged configuration. */
export function checkSecurityConfig(c: Json): SecurityCheck {
  const problems: string[] = [];
  const need = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const auth = isObject(c.auth) ? c.auth : {};
  const production = c.production === true;
  const tls = isObject(c.tls) ? c.tls : {};

  // `mode: basic|none` is the older single-mode key: a synonym of `modes: [mode]`.
  let modes: unknown = auth.modes;
  if (auth.mode !== undefined) {
    need(
      auth.mode === "basic" || auth.mode === "none",
      `auth.mode: "basic" or "none" (got ${JSON.stringify(auth.mode)}); use auth.modes for bearer or certificate`,
    );
    if (modes === undefined) modes = [auth.mode];
    else
      need(
        Array.isArray(modes) && modes.length === 1 && modes[0] === auth.mode,
        "auth.mode and auth.modes disagree: set only auth.modes",
      );
  }
  if (modes === undefined) modes = ["basic"];
  const list = Array.isArray(modes) ? modes : [];
  need(
    Array.isArray(modes) && list.length > 0 && list.every((m) => authModes.includes(m as AuthMode)),
    `auth.modes: a non-empty list of ${authModes.join(", ")} (got ${JSON.stringify(modes)})`,
  );
  need(new Set(list).size === list.length, "auth.modes: a mode is listed twice");
  const has = (m: AuthMode) => list.includes(m);
  need(
    !has("none") || list.length === 1,
    "auth.modes: none (anonymous access) cannot be combined with other modes",
  );
  if (has("basic"))
    need(
      str(auth.usersFile),
      "auth.usersFile: required with auth mode basic (a YAML file of {users: [{name, passwordHash}]})",
    );
  if (has("bearer")) checkJwt(auth.jwt, need, production);
  else need(auth.jwt === undefined || isObject(auth.jwt), "auth.jwt: must be a mapping");
  if (has("certificate"))
    need(
      isObject(tls.client),
      "auth.modes: certificate needs tls.client (client certificates are verified against tls.client.ca)",
    );
  need(
    auth.certificateIdentity === undefined ||
      auth.certificateIdentity === "cn" ||
      auth.certificateIdentity === "san",
    `auth.certificateIdentity: "cn" or "san" (got ${JSON.stringify(auth.certificateIdentity)})`,
  );
  need(auth.aclFile === undefined || str(auth.aclFile), "auth.aclFile: a file path (YAML roles and users)");
  need(
    auth.metricsTokenFile === undefined || str(auth.metricsTokenFile),
    "auth.metricsTokenFile: a file path (the token /metrics requires as `authorization: bearer <token>`)",
  );
  if (production) {
    // Wording kept from the single-mode key, which older configurations and tests use.
    need(!has("none"), "auth.mode none is refused in production mode (anonymous access)");
    need(
      str(auth.aclFile),
      "auth.aclFile is required in production mode (authorization is default deny: name who may do what)",
    );
  }

  const peer = tls.peer;
  if (isObject(peer) && peer.allowedIdentities !== undefined) {
    const ids = peer.allowedIdentities;
    need(
      Array.isArray(ids) && ids.length > 0 && ids.every(str),
      "tls.peer.allowedIdentities: a non-empty list of identity patterns (node ids, DNS names, `*` wildcards)",
    );
  }
  if (isObject(peer) && peer.sharedIdentities !== undefined) {
    const ids = peer.sharedIdentities;
    need(
      Array.isArray(ids) && ids.every(str) && !ids.includes("*"),
      "tls.peer.sharedIdentities: a list of the identities of certificates all nodes share (e.g. <clusterId>-peer); not `*`, which would unbind every node certificate",
    );
  }

  if (isObject(peer) && peer.enroll !== undefined) {
    const e = peer.enroll;
    need(
      isObject(e) && str(e.url) && /^https:\/\//.test(e.url as string) && str(e.tokenFile) && str(e.ca),
      "tls.peer.enroll: {url: https://<operator>/v1/peer-certificates, tokenFile: <projected token>, ca: <the endpoint's CA file>}",
    );
  }

  const limits = isObject(c.limits) ? c.limits : {};
  for (const [key, defaults] of [
    ["connections", defaultConnectionLimits],
    ["auth", defaultAuthLimits],
    ["quotas", defaultQuotas],
  ] as const) {
    const section = limits[key];
    if (section === undefined) continue;
    if (!isObject(section)) need(false, `limits.${key}: must be a mapping`);
    else
      for (const k of Object.keys(defaults))
        need(posInt(section[k]), `limits.${key}.${k}: a positive integer`);
  }

  const { mode: _legacy, ...rest } = auth;
  return {
    problems,
    auth: {
      ...(rest as Partial<AuthConfig>),
      modes: list as AuthMode[],
      certificateIdentity: (auth.certificateIdentity as "cn" | "san" | undefined) ?? "cn",
    },
  };
}

function checkJwt(jwt: unknown, need: (ok: boolean, message: string) => void, production: boolean): void {
  if (!isObject(jwt)) {
    need(false, "auth.jwt: required with auth mode bearer ({algorithm, keyFile, ...})");
    return;
  }
  need(
    jwtAlgorithms.includes(jwt.algorithm as (typeof jwtAlgorithms)[number]),
    `auth.jwt.algorithm: one of ${jwtAlgorithms.join(", ")} (got ${JSON.stringify(jwt.algorithm)})`,
  );
  need(
    [jwt.keyFile, jwt.jwksFile, jwt.jwksUrl].filter(str).length === 1,
    "auth.jwt: exactly one of keyFile (PEM public key for RS256/ES256, secret for HS256), jwksFile or jwksUrl (a JWKS, keys chosen by kid)",
  );
  need(
    jwt.jwksUrl === undefined || (str(jwt.jwksUrl) && /^https?:\/\//.test(jwt.jwksUrl as string)),
    "auth.jwt.jwksUrl: an http(s) URL",
  );
  need(
    jwt.jwksRefreshSeconds === undefined || posInt(jwt.jwksRefreshSeconds),
    "auth.jwt.jwksRefreshSeconds: a positive integer (seconds)",
  );
  need(
    jwt.maxLifetimeSeconds === undefined || posInt(jwt.maxLifetimeSeconds),
    "auth.jwt.maxLifetimeSeconds: a positive integer (seconds)",
  );
  if (production)
    need(
      str(jwt.issuer) && jwt.audience !== undefined,
      "auth.jwt.issuer and auth.jwt.audience are required in production mode (a token for another service must not work here)",
    );
  for (const k of ["issuer", "nameClaim", "rolesClaim"])
    need(jwt[k] === undefined || str(jwt[k]), `auth.jwt.${k}: a non-empty string`);
  need(
    jwt.audience === undefined ||
      str(jwt.audience) ||
      (Array.isArray(jwt.audience) && jwt.audience.length > 0 && jwt.audience.every(str)),
    "auth.jwt.audience: a string or a list of strings",
  );
  need(
    jwt.leewaySeconds === undefined ||
      (Number.isInteger(jwt.leewaySeconds) && (jwt.leewaySeconds as number) >= 0),
    "auth.jwt.leewaySeconds: an integer >= 0",
  );
}
