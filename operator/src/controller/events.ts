import type { EventInput, Involved, KubeClient } from "../kube/client.js";
import type { Logger } from "./logger.js";

/** Records an Event; one that cannot be written is logged and must not fail the reconcile that did the work. */
export async function recordEvent(
  kube: KubeClient,
  log: Logger,
  involved: Involved,
  event: EventInput,
): Promise<boolean> {
  try {
    await kube.event(involved, event);
    return true;
  } catch (err) {
    log.warn("event not recorded", { reason: event.reason, error: (err as Error).message });
    return false;
  }
}
