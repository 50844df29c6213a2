import { ApiException } from "@kubernetes/client-node";
import { LeaseLock } from "../src/controller/lease-lock.js";
import { silentLogger } from "../src/controller/logger.js";

/**
 * A Lease API that keeps one Lease in memory: reads 404 until it is created. `replace` decides
 * what a renewal does (hang, fail once, succeed); `onCall` sees each call by its RBAC verb.
 */
export function fakeLeaseApi(
  replace: (body: unknown, store: (b: unknown) => void) => Promise<unknown> = async (b, store) => {
    store(b);
    return b;
  },
  onCall: (verb: "get" | "create" | "update") => void = () => {},
) {
  let held: unknown;
  const store = (b: unknown) => {
    held = b;
  };
  return {
    readNamespacedLease: async () => {
      onCall("get");
      if (!held) throw new ApiException(404, "not found", {}, {});
      return held;
    },
    createNamespacedLease: async ({ body }: { body: unknown }) => {
      onCall("create");
      held = body;
      return body;
    },
    replaceNamespacedLease: async ({ body }: { body: unknown }) => {
      onCall("update");
      return replace(body, store);
    },
  };
}

/** A started LeaseLock "me" on `api` that tells `events` when it starts and stops leading. */
export function startedLock(
  api: ReturnType<typeof fakeLeaseApi>,
  leaseDurationSeconds: number,
  retryPeriodMs: number,
  events: string[] = [],
): LeaseLock {
  const lock = new LeaseLock(api as never, {
    namespace: "ops",
    name: "geobroker-operator",
    identity: "me",
    leaseDurationSeconds,
    retryPeriodMs,
    log: silentLogger,
    onStartedLeading: () => events.push(`started ${Date.now()}`),
    onStoppedLeading: () => events.push(`stopped ${Date.now()}`),
  });
  lock.start();
  return lock;
}
