import type { ContextValues } from "@connectrpc/connect";
import { type CallContext, forwardedHopsHeader } from "../engine/engine.js";
import { fromNodeKey, mayKey, principalKey } from "../security/context-keys.js";

/** The engine's view of a client call: cancellation, credentials to forward, forwarding hops. */
export function callContext(ctx: {
  signal: AbortSignal;
  requestHeader: Headers;
  values?: ContextValues;
}): CallContext {
  const authorization = ctx.requestHeader.get("authorization") ?? undefined;
  // Only a node's hop count is believed: a client setting it would skip coordinator routing.
  const hops =
    ctx.values?.get(fromNodeKey) === false ? 0 : Number(ctx.requestHeader.get(forwardedHopsHeader) ?? "0");
  // A certificate identity has no header to forward: its name travels instead (forwarder.ts).
  const principal = ctx.values?.get(principalKey);
  const forwardedFor = !authorization && principal?.method === "certificate" ? principal.name : undefined;
  const may = ctx.values?.get(mayKey);
  return {
    signal: ctx.signal,
    ...(may ? { mayCreateTopic: (topic: string) => may("create", topic) } : {}),
    ...(principal ? { principal: principal.name } : {}),
    ...(authorization ? { authorization } : {}),
    ...(forwardedFor ? { forwardedFor } : {}),
    hops: Number.isInteger(hops) && hops >= 0 ? hops : 0,
  };
}
