import type { Interceptor } from "@connectrpc/connect";

/**
 * How the client authenticates. Client certificates are a transport setting (`tls.cert`/`tls.key`
 * on the Node entry); these go in the `authorization` header of every call.
 */
export type Auth =
  | { basic: { user: string; password: string } }
  | {
      bearer: {
        token: string;
        /** Called before the token's `expiresAt` (and after an UNAUTHENTICATED answer) for a new one. */
        refresh?: () => Promise<{ token: string; expiresAt?: Date }>;
        expiresAt?: Date;
      };
    };

/** Refresh this long before a bearer token expires, so no call carries an expired one. */
const refreshMarginMs = 30_000;

function base64(text: string): string {
  let binary = "";
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The header value source for `auth`: basic is fixed, bearer refreshes ahead of expiry. */
export class Credentials {
  private token: string | undefined;
  private expiresAt: number | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly auth: Auth | undefined) {
    if (auth && "bearer" in auth) {
      this.token = auth.bearer.token;
      this.expiresAt = auth.bearer.expiresAt?.getTime();
    }
  }

  async header(now = Date.now()): Promise<string | undefined> {
    const a = this.auth;
    if (!a) return undefined;
    if ("basic" in a) return `Basic ${base64(`${a.basic.user}:${a.basic.password}`)}`;
    if (a.bearer.refresh && this.expiresAt !== undefined && now >= this.expiresAt - refreshMarginMs)
      await this.refresh();
    return `Bearer ${this.token}`;
  }

  /** Gets a new bearer token (one refresh at a time); a no-op for basic auth or without a callback. */
  refresh(): Promise<void> {
    const a = this.auth;
    if (!a || !("bearer" in a) || !a.bearer.refresh) return Promise.resolve();
    const refresh = a.bearer.refresh;
    this.refreshing ??= refresh()
      .then((t) => {
        this.token = t.token;
        this.expiresAt = t.expiresAt?.getTime();
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  get canRefresh(): boolean {
    return this.auth !== undefined && "bearer" in this.auth && this.auth.bearer.refresh !== undefined;
  }

  /** Sets the header on every call; an UNAUTHENTICATED unary answer refreshes the token and tries once more. */
  interceptor(): Interceptor {
    return (next) => async (req) => {
      const value = await this.header();
      if (value) req.header.set("authorization", value);
      try {
        return await next(req);
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code !== 16 || !this.canRefresh || req.stream) throw err;
        await this.refresh();
        req.header.set("authorization", (await this.header()) ?? "");
        return next(req);
      }
    };
  }
}
