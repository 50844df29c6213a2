import {
  createHmac,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  timingSafeEqual,
  verify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { unauthenticated } from "../engine/errors.js";
import type { Authenticator, Principal } from "./authenticator.js";

// Bearer tokens: compact JWS (RFC 7515/7519) verified with node:crypto only. The server decides the
// algorithm; the token's `alg` must equal it, which rules out `none` and HS/RS key confusion.

export const jwtAlgorithms = ["HS256", "RS256", "ES256"] as const;
export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

export interface JwtOptions {
  algorithm: JwtAlgorithm;
  /** A secret key for HS256, a public key for RS256/ES256 (see loadJwtKey). */
  key?: KeyObject;
  /**
   * Keys by `kid` (a JWKS): the token's `kid` header selects one, and a token without a `kid`, or
   * with one not here, is refused. Used instead of `key` when set.
   */
  keys?: ReadonlyMap<string, KeyObject>;
  /** Called when a token names a kid not in `keys` (a JWKS URL refreshes early). */
  onUnknownKid?: (kid: string) => void;
  /** Tokens valid longer than this (exp - iat, or exp - now without iat) are refused. Default 1 day. */
  maxLifetimeSeconds?: number;
  /** When set, the token's `iss` must equal it. */
  issuer?: string;
  /** When set, the token's `aud` (string or list) must contain one of these. */
  audience?: string | string[];
  /** Clock skew tolerated on exp/nbf, seconds. Default 30. */
  leewaySeconds?: number;
  /** Claim naming the principal. Default `sub`. */
  nameClaim?: string;
  /** Claim holding roles: a list of strings or one space-separated string. None by default. */
  rolesClaim?: string;
  /** Tokens without `exp` are refused unless this is false. Default true. */
  requireExpiry?: boolean;
}

export interface VerifiedToken {
  name: string;
  roles: string[];
  claims: Record<string, unknown>;
}

const maxTokenChars = 16 * 1024;
const base64url = /^[A-Za-z0-9_-]*$/;

/**
 * Verifies a compact JWT and returns its principal; throws UNAUTHENTICATED with the reason. `now` is
 * unix seconds (injected so tests need no clock). Error messages never contain the token.
 */
export function verifyJwt(token: string, o: JwtOptions, now = Date.now() / 1000): VerifiedToken {
  if (token.length > maxTokenChars)
    throw unauthenticated(`bearer token is longer than ${maxTokenChars} characters`);
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => base64url.test(p)))
    throw unauthenticated("malformed bearer token: expected a compact JWT (header.payload.signature)");
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h, "header");
  if (header.alg !== o.algorithm) {
    throw unauthenticated(
      `bearer token algorithm ${JSON.stringify(header.alg)} is not accepted; this server accepts ${o.algorithm} only`,
    );
  }
  if (header.crit !== undefined) throw unauthenticated("bearer token has critical header extensions (crit)");
  const key = keyFor(o, header.kid);
  if (!checkSignature(o.algorithm, key, Buffer.from(`${h}.${p}`), Buffer.from(s, "base64url")))
    throw unauthenticated("bearer token signature is invalid");

  const claims = decodeJson(p, "payload");
  const leeway = o.leewaySeconds ?? 30;
  const exp = numericClaim(claims, "exp");
  if (exp === undefined && (o.requireExpiry ?? true))
    throw unauthenticated("bearer token has no expiry (exp)");
  if (exp !== undefined && now > exp + leeway)
    throw unauthenticated(`bearer token expired at ${new Date(exp * 1000).toISOString()}`);
  const maxLifetime = o.maxLifetimeSeconds ?? 86_400;
  const iat = numericClaim(claims, "iat");
  if (exp !== undefined && exp - (iat ?? now) > maxLifetime + leeway)
    throw unauthenticated(
      `bearer token is valid for ${Math.round(exp - (iat ?? now))} s; this server accepts at most ${maxLifetime} s`,
    );
  const nbf = numericClaim(claims, "nbf");
  if (nbf !== undefined && now + leeway < nbf)
    throw unauthenticated(`bearer token is not valid before ${new Date(nbf * 1000).toISOString()}`);
  if (o.issuer !== undefined && claims.iss !== o.issuer)
    throw unauthenticated(
      `bearer token issuer ${JSON.stringify(claims.iss)} is not the expected ${o.issuer}`,
    );
  if (o.audience !== undefined) {
    const wanted = Array.isArray(o.audience) ? o.audience : [o.audience];
    const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!aud.some((a) => wanted.includes(a as string)))
      throw unauthenticated(`bearer token audience does not include ${wanted.join(" or ")}`);
  }
  const nameClaim = o.nameClaim ?? "sub";
  const name = claims[nameClaim];
  if (typeof name !== "string" || name.length === 0)
    throw unauthenticated(`bearer token has no principal name in claim "${nameClaim}"`);
  return { name, roles: o.rolesClaim ? rolesFrom(claims[o.rolesClaim]) : [], claims };
}

/** The key the token's `kid` selects (JWKS), or the one configured key. */
function keyFor(o: JwtOptions, kid: unknown): KeyObject {
  if (o.keys) {
    if (typeof kid !== "string" || kid.length === 0)
      throw unauthenticated("bearer token has no key id (kid); this server selects its key by kid");
    const key = o.keys.get(kid);
    if (!key) o.onUnknownKid?.(kid);
    if (!key)
      throw unauthenticated(`bearer token key id ${JSON.stringify(kid.slice(0, 64))} is not known here`);
    return key;
  }
  if (!o.key) throw unauthenticated("no bearer token key is configured");
  return o.key;
}

function checkSignature(
  algorithm: JwtAlgorithm,
  key: KeyObject,
  signingInput: Buffer,
  signature: Buffer,
): boolean {
  switch (algorithm) {
    case "HS256": {
      const expected = createHmac("sha256", key).update(signingInput).digest();
      // timingSafeEqual needs equal lengths; the length of an HMAC is public anyway.
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    case "RS256":
      return verify("sha256", signingInput, key, signature);
    case "ES256":
      // JWS carries ECDSA signatures as r||s (64 bytes), not DER.
      return (
        signature.length === 64 &&
        verify("sha256", signingInput, { key, dsaEncoding: "ieee-p1363" }, signature)
      );
  }
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw unauthenticated(`malformed bearer token: the ${what} is not base64url JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw unauthenticated(`malformed bearer token: the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function numericClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v))
    throw unauthenticated(`bearer token claim "${name}" is not a number`);
  return v;
}

function rolesFrom(value: unknown): string[] {
  if (typeof value === "string") return value.split(/\s+/).filter((r) => r.length > 0);
  if (Array.isArray(value)) return value.filter((r): r is string => typeof r === "string" && r.length > 0);
  return [];
}

/**
 * The verification key for an algorithm from file contents: for HS256 the raw secret (trailing line
 * breaks removed, at least 32 bytes); for RS256/ES256 a PEM public key or certificate of the matching
 * type. Refusing a PEM as an HS256 secret closes the classic key-confusion hole at configuration time.
 */
export function loadJwtKey(algorithm: JwtAlgorithm, contents: Buffer, source = "JWT key"): KeyObject {
  if (algorithm === "HS256") {
    const secret = stripTrailingNewlines(contents);
    if (secret.subarray(0, 11).toString() === "-----BEGIN ")
      throw new Error(`${source}: HS256 needs a raw shared secret, not a PEM key`);
    if (secret.length < 32)
      throw new Error(`${source}: the HS256 secret is ${secret.length} bytes; use at least 32 random bytes`);
    return createSecretKey(secret);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(contents);
  } catch (err) {
    throw new Error(
      `${source}: ${algorithm} needs a PEM public key or certificate: ${(err as Error).message}`,
    );
  }
  if (algorithm === "RS256" && key.asymmetricKeyType !== "rsa")
    throw new Error(`${source}: RS256 needs an RSA key, got ${key.asymmetricKeyType}`);
  if (algorithm === "RS256" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
    throw new Error(`${source}: the RSA key is shorter than 2048 bits`);
  if (
    algorithm === "ES256" &&
    (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
  )
    throw new Error(`${source}: ES256 needs an EC P-256 key`);
  return key;
}

function stripTrailingNewlines(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d)) end--;
  return b.subarray(0, end);
}

/**
 * The keys of a JWKS document (RFC 7517) usable with `algorithm`, by `kid`: keys of another type,
 * for another `alg`, or not for signatures (`use` other than `sig`) are left out; a key without
 * `kid`, or a kid given twice, makes the document invalid (the token's kid must select one key).
 */
export function parseJwks(algorithm: JwtAlgorithm, text: string, source = "JWKS"): Map<string, KeyObject> {
  let doc: { keys?: unknown };
  try {
    doc = JSON.parse(text) as { keys?: unknown };
  } catch (err) {
    throw new Error(`${source}: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc?.keys)) throw new Error(`${source}: expected {"keys": [...]}`);
  const kty = { HS256: "oct", RS256: "RSA", ES256: "EC" }[algorithm];
  const out = new Map<string, KeyObject>();
  for (const [i, jwk] of (doc.keys as Record<string, unknown>[]).entries()) {
    if (typeof jwk?.kid !== "string" || jwk.kid.length === 0)
      throw new Error(`${source}: keys[${i}] has no kid`);
    if (out.has(jwk.kid)) throw new Error(`${source}: kid ${JSON.stringify(jwk.kid)} is listed twice`);
    if (jwk.kty !== kty || (jwk.alg !== undefined && jwk.alg !== algorithm)) continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (algorithm === "HS256")
      throw new Error(`${source}: HS256 secrets do not belong in a JWKS; use keyFile`);
    const pem = createPublicKey({ key: jwk as never, format: "jwk" }).export({ type: "spki", format: "pem" });
    out.set(jwk.kid, loadJwtKey(algorithm, Buffer.from(pem), `${source} kid ${jwk.kid}`));
  }
  if (out.size === 0) throw new Error(`${source}: no ${algorithm} signing key in it`);
  return out;
}

export function readJwtKeyFile(algorithm: JwtAlgorithm, path: string): KeyObject {
  let contents: Buffer;
  try {
    contents = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read JWT key file ${path}: ${(err as Error).message}`);
  }
  return loadJwtKey(algorithm, contents, `JWT key file ${path}`);
}

/** `authorization: bearer <jwt>`. The key can be swapped at run time (file rotation). */
export class JwtAuthenticator implements Authenticator {
  private options: JwtOptions;

  constructor(
    options: JwtOptions,
    private readonly clock: () => number = () => Date.now() / 1000,
  ) {
    this.options = options;
  }

  setKey(key: KeyObject): void {
    this.options = { ...this.options, key };
  }

  /** Replaces the key set (a reloaded JWKS). */
  setKeys(keys: ReadonlyMap<string, KeyObject>): void {
    this.options = { ...this.options, keys };
  }

  /** Told of tokens whose kid is not held (a JWKS URL then refreshes early). */
  onUnknownKid(listener: (kid: string) => void): void {
    this.options = { ...this.options, onUnknownKid: listener };
  }

  async authenticate(headers: Headers): Promise<Principal> {
    const header = headers.get("authorization");
    if (!header) throw unauthenticated("missing credentials: send `authorization: bearer <token>`");
    const match = /^bearer\s+(\S+)$/i.exec(header.trim());
    if (!match) throw unauthenticated("unsupported authorization scheme: use bearer");
    const token = verifyJwt(match[1]!, this.options, this.clock());
    const exp = token.claims.exp;
    return {
      name: token.name,
      method: "bearer",
      roles: token.roles,
      ...(typeof exp === "number" ? { expiresAt: exp + (this.options.leewaySeconds ?? 30) } : {}),
    };
  }

  /** A token's streams end when it expires. */
  stillValid(principal: Principal): boolean {
    return principal.expiresAt === undefined || this.clock() <= principal.expiresAt;
  }
}
