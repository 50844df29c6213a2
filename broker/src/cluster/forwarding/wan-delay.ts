// The simulated WAN on forwarded calls (`npm start -- --wan-delay`, the bench's geo cells): a node
// forwarding a call to another region's client port delays every message of it, request and
// response, by the one-way delay between the regions, as peer links already delay Raft traffic
// (transport/peer-link.ts). Messages are delayed in a pipeline, not one after another: a stream of
// them arrives as late as one, with its spacing kept.
import type { Interceptor } from "@connectrpc/connect";
import type { NodeConfig } from "../../config/config.js";
import { type Clock, nowMs, sleep } from "../../util/clock.js";

/** Delays each message of a call by `delayMs` in each direction (0: the interceptor does nothing). */
export function wanDelayInterceptor(delayMs: number, clock: Clock): Interceptor {
  return (next) => async (req) => {
    if (delayMs <= 0) return next(req);
    if (req.stream) req = { ...req, message: delayed(req.message, delayMs, clock) };
    else await sleep(clock, delayMs, req.signal);
    const res = await next(req);
    if (res.stream) return { ...res, message: delayed(res.message, delayMs, clock) };
    await sleep(clock, delayMs, req.signal);
    return res;
  };
}

/**
 * `source`'s items, each yielded `delayMs` after it arrived. The source is read ahead without bound
 * (a simulation aid only, never on without --wan-delay); its end and its error come after the items
 * before them.
 */
export async function* delayed<T>(
  source: AsyncIterable<T>,
  delayMs: number,
  clock: Clock,
): AsyncGenerator<T> {
  const queue: { at: number; value: T }[] = [];
  let ended: { error?: unknown } | undefined;
  let wake: (() => void) | undefined;
  void (async () => {
    try {
      for await (const value of source) {
        queue.push({ at: nowMs(clock) + delayMs, value });
        wake?.();
      }
      ended = {};
    } catch (error) {
      ended = { error };
    }
    wake?.();
  })();
  for (;;) {
    const head = queue.shift();
    if (head) {
      const wait = head.at - nowMs(clock);
      if (wait > 0) await sleep(clock, wait);
      yield head.value;
      continue;
    }
    if (ended) {
      if (ended.error !== undefined) throw ended.error;
      return;
    }
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
}

/** The one-way delay to each peer's client address, from the node's config (wanDelayMs by region). */
export function wanDelayTo(
  config: Pick<NodeConfig, "peers" | "wanDelayMs">,
): (clientAddress: string) => number {
  const byAddress = new Map(config.peers.map((p) => [p.clientAddress, config.wanDelayMs[p.region] ?? 0]));
  return (clientAddress) => byAddress.get(clientAddress) ?? 0;
}
