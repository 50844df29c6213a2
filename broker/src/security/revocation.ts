import type { ConnectError } from "@connectrpc/connect";
import { permissionDenied, unauthenticated } from "../engine/errors.js";
import type { Authenticator, Principal } from "./authenticator.js";
import type { Authorizer } from "./authorization.js";
import type { Requirement } from "./method-permissions.js";

// Revocation for open streams. A Subscribe or Consume is authorized once, when it starts; without
// this, removing the user or the grant left it streaming for as long as the client liked. Each open
// stream re-checks, every `everyMs`, that its caller still exists (authenticator.stillValid) and
// still holds what the stream needed; the first failure ends it with that code.

/** The permissions a stream was granted, re-checked while it is open (bounded: PublishStream adds per topic). */
export class Grants {
  private readonly held = new Map<string, Requirement>();

  constructor(private readonly max = 64) {}

  add(r: Requirement): void {
    const key = `${r.anyOf.join(",")}|${r.topic ?? ""}|${r.consumer ?? ""}`;
    if (this.held.has(key)) return;
    if (this.held.size >= this.max) this.held.delete(this.held.keys().next().value!);
    this.held.set(key, r);
  }

  /** Why the principal may no longer hold the stream, or undefined. */
  problem(
    principal: Principal,
    authenticator: Authenticator | undefined,
    authorizer: Authorizer,
  ): ConnectError | undefined {
    if (authenticator?.stillValid && !authenticator.stillValid(principal))
      return unauthenticated(
        `the credentials of "${principal.name}" were revoked or expired: the stream ends`,
      );
    for (const r of this.held.values()) {
      const decisions = r.anyOf.map((a) => authorizer.authorize(principal, a, r.topic, r.consumer));
      if (!decisions.some((d) => d.allowed))
        return permissionDenied(
          `${decisions.map((d) => (d.allowed ? "" : d.reason)).join("; ")} any more: the stream ends`,
        );
    }
    return undefined;
  }
}

/**
 * `source`, ended with the error `check` returns once it returns one (checked every `everyMs`),
 * even while the source is waiting for its next item. Each wait gets its own promise: no
 * long-lived promise is raced again and again (that is the leak mergeAsyncIterables had).
 */
export async function* revocable<T>(
  source: AsyncIterable<T>,
  check: () => ConnectError | undefined,
  everyMs: number,
): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let revoked: ConnectError | undefined;
  let interrupt: ((err: ConnectError) => void) | undefined;
  const timer = setInterval(() => {
    revoked ??= check();
    if (revoked) interrupt?.(revoked);
  }, everyMs);
  timer.unref();
  try {
    for (;;) {
      if (revoked) throw revoked;
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        interrupt = reject;
        it.next().then(resolve, reject);
      });
      interrupt = undefined;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearInterval(timer);
    // Not awaited: a source suspended in an await finishes its return only at its next yield; the
    // call's signal (aborted as the response ends) is what stops it.
    void it.return?.()?.catch(() => {});
  }
}
