import { createHmac, randomBytes } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { unauthenticated } from "../api/errors.js";
import { verifyPassword } from "./passwords.js";

export interface Principal {
  name: string;
  /** How the caller proved who it is. */
  method: "basic" | "bearer" | "certificate" | "anonymous";
  /**
   * Roles the credential itself carries (a JWT claim). They add to the roles the ACL gives the name;
   * basic and certificate callers get theirs from the ACL only.
   */
  roles?: readonly string[];
}

/** What the transport knows about the caller beyond its headers. */
export interface AuthContext {
  /**
   * The client certificate of a TLS connection (node:tls `getPeerCertificate()`), set only when the
   * TLS layer verified it against the configured CA (`socket.authorized`).
   */
  peerCertificate?: PeerCertificate;
}

export interface UserRecord {
  name: string;
  /** `scrypt$...` as made by hashPassword; never a clear-text password. */
  passwordHash: string;
}

export interface Authenticator {
  /** The caller behind these request headers (and connection), or UNAUTHENTICATED. */
  authenticate(headers: Headers, context?: AuthContext): Promise<Principal>;
}

/** Accepts everyone: only for `auth.mode: none`, which the config refuses in production mode. */
export const anonymousAuthenticator: Authenticator = {
  async authenticate() {
    return { name: "anonymous", method: "anonymous" };
  },
};

const cacheLimit = 4096;

/**
 * HTTP basic credentials in the `authorization` header (the compatible API's scheme). scrypt costs
 * tens of milliseconds by design, so a successful check is remembered, keyed by an HMAC of the header
 * under a per-process secret (the cache never holds a password).
 */
export class BasicAuthenticator implements Authenticator {
  private readonly users = new Map<string, UserRecord>();
  private readonly verified = new Map<string, Principal>();
  /** Checks under way: concurrent calls with the same header share one scrypt (no thundering herd). */
  private readonly checking = new Map<string, Promise<Principal>>();
  private readonly cacheKeySecret = randomBytes(32);

  constructor(users: UserRecord[]) {
    this.setUsers(users);
  }

  setUsers(users: UserRecord[]): void {
    this.users.clear();
    for (const u of users) this.users.set(u.name, u);
    this.verified.clear();
  }

  async authenticate(headers: Headers): Promise<Principal> {
    const header = headers.get("authorization");
    if (!header)
      throw unauthenticated("missing credentials: send `authorization: basic base64(user:password)`");
    const cacheKey = createHmac("sha256", this.cacheKeySecret).update(header).digest("base64");
    const cached = this.verified.get(cacheKey);
    if (cached) return cached;
    let check = this.checking.get(cacheKey);
    if (!check) {
      check = this.verify(header, cacheKey).finally(() => this.checking.delete(cacheKey));
      this.checking.set(cacheKey, check);
    }
    return check;
  }

  private async verify(header: string, cacheKey: string): Promise<Principal> {
    const match = /^basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    if (!match) throw unauthenticated("unsupported authorization scheme: use basic");
    const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) throw unauthenticated("malformed basic credentials: expected base64(user:password)");
    const name = decoded.slice(0, colon);
    const user = this.users.get(name);
    // Verify against a dummy hash for unknown users so timing does not reveal which names exist.
    const ok = await verifyPassword(decoded.slice(colon + 1), user?.passwordHash ?? dummyHash);
    if (!user || !ok) throw unauthenticated("invalid user name or password");
    const principal: Principal = { name, method: "basic" };
    if (this.verified.size >= cacheLimit) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cacheKey, principal);
    return principal;
  }
}

// scrypt of a random password: any comparison against it fails.
const dummyHash = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
