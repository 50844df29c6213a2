import { createHmac, randomBytes } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { unauthenticated } from "../engine/errors.js";
import { verifyPassword } from "./passwords.js";
import type { Derive } from "./scrypt-workers.js";

export interface Principal {
  name: string;
  /** How the caller proved who it is. */
  method: "basic" | "bearer" | "certificate" | "anonymous";
  /**
   * Roles the credential itself carries (a JWT claim). They add to the roles the ACL gives the name;
   * basic and certificate callers get theirs from the ACL only.
   */
  roles?: readonly string[];
  /** Unix seconds after which the credential is no longer valid (a token's exp). */
  expiresAt?: number;
}

/** What the transport knows about the caller beyond its headers. */
export interface AuthContext {
  /**
   * The client certificate of a TLS connection (node:tls `getPeerCertificate()`), set only when the
   * TLS layer verified it against the configured CA (`socket.authorized`).
   */
  peerCertificate?: PeerCertificate;
  /** The client's address, for throttling and for the log. */
  address?: string;
}

export interface UserRecord {
  name: string;
  /** `scrypt$...` as made by hashPassword; never a clear-text password. */
  passwordHash: string;
}

export interface Authenticator {
  /** The caller behind these request headers (and connection), or UNAUTHENTICATED. */
  authenticate(headers: Headers, context?: AuthContext): Promise<Principal>;
  /**
   * Whether a principal this authenticator issued still holds (its user still exists, its token has
   * not expired): open streams end when it does not. Absent: always.
   */
  stillValid?(principal: Principal): boolean;
}

/** Accepts everyone: only for `auth.mode: none`, which the config refuses in production mode. */
export const anonymousAuthenticator: Authenticator = {
  async authenticate() {
    return { name: "anonymous", method: "anonymous" };
  },
};

const cacheLimit = 4096;
/** Longer basic headers are refused unread: no real user name and password needs more. */
const maxBasicHeaderChars = 1024;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The user name and password of a basic `authorization` header, accepted in exactly one spelling:
 * the scheme, one space, canonical base64 (the padding it must have, nothing after it). Every other
 * spelling of the same credential is refused before any scrypt, so one password cannot be turned
 * into many cache misses. Names without control characters; the password is anything in UTF-8.
 */
export function parseBasicCredentials(header: string): { name: string; password: string } {
  if (header.length > maxBasicHeaderChars)
    throw unauthenticated(`basic credentials longer than ${maxBasicHeaderChars} characters are refused`);
  const match = /^basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header);
  if (!match) throw unauthenticated("malformed basic credentials: expected `basic base64(user:password)`");
  const encoded = match[1]!;
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.toString("base64") !== encoded)
    throw unauthenticated("malformed basic credentials: not canonical base64 (check padding)");
  let decoded: string;
  try {
    decoded = strictUtf8.decode(bytes);
  } catch {
    throw unauthenticated("malformed basic credentials: not UTF-8");
  }
  const colon = decoded.indexOf(":");
  const name = decoded.slice(0, colon);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (colon <= 0 || /[\u0000-\u001f\u007f]/.test(name))
    throw unauthenticated("malformed basic credentials: expected base64(user:password)");
  return { name, password: decoded.slice(colon + 1) };
}

export interface BasicAuthenticatorOptions {
  /**
   * Runs each password check (scrypt): the node passes its AuthThrottle so checks are bounded and
   * queued, never all at once on libuv's threads. Default: run directly.
   */
  runCheck?: <T>(check: () => Promise<T>) => Promise<T>;
  /** The scrypt to use (ScryptWorkers.derive: off libuv's pool). Default node:crypto's. */
  derive?: Derive;
}

/**
 * HTTP basic credentials in the `authorization` header (the compatible API's scheme). scrypt costs
 * tens of milliseconds by design, so a successful check is remembered, keyed by an HMAC of the
 * credential under a per-process secret (the cache never holds a password).
 */
export class BasicAuthenticator implements Authenticator {
  private readonly users = new Map<string, UserRecord>();
  private readonly verified = new Map<string, Principal>();
  /** Checks under way: concurrent calls with the same header share one scrypt (no thundering herd). */
  private readonly checking = new Map<string, Promise<Principal>>();
  private readonly cacheKeySecret = randomBytes(32);
  private readonly runCheck: <T>(check: () => Promise<T>) => Promise<T>;
  private readonly derive: Derive | undefined;

  constructor(users: UserRecord[], o: BasicAuthenticatorOptions = {}) {
    this.runCheck = o.runCheck ?? ((check) => check());
    this.derive = o.derive;
    this.setUsers(users);
  }

  setUsers(users: UserRecord[]): void {
    this.users.clear();
    for (const u of users) this.users.set(u.name, u);
    this.verified.clear();
  }

  /** A removed user's open streams end (users file reloaded without it). */
  stillValid(principal: Principal): boolean {
    return principal.method !== "basic" || this.users.has(principal.name);
  }

  async authenticate(headers: Headers): Promise<Principal> {
    const header = headers.get("authorization");
    if (!header)
      throw unauthenticated("missing credentials: send `authorization: basic base64(user:password)`");
    const credentials = parseBasicCredentials(header.trim());
    const cacheKey = createHmac("sha256", this.cacheKeySecret)
      .update(credentials.name)
      .update("\0")
      .update(credentials.password)
      .digest("base64");
    const cached = this.verified.get(cacheKey);
    if (cached) return cached;
    let check = this.checking.get(cacheKey);
    if (!check) {
      check = this.runCheck(() => this.verify(credentials, cacheKey)).finally(() =>
        this.checking.delete(cacheKey),
      );
      this.checking.set(cacheKey, check);
    }
    return check;
  }

  private async verify(c: { name: string; password: string }, cacheKey: string): Promise<Principal> {
    const user = this.users.get(c.name);
    // Verify against a dummy hash for unknown users so timing does not reveal which names exist.
    const ok = await verifyPassword(c.password, user?.passwordHash ?? dummyHash, this.derive);
    if (!user || !ok) throw unauthenticated("invalid user name or password");
    const principal: Principal = { name: c.name, method: "basic" };
    if (this.verified.size >= cacheLimit) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cacheKey, principal);
    return principal;
  }
}

// scrypt of a random password: any comparison against it fails.
const dummyHash = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
