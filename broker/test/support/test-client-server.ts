import {
  type ClientServer,
  type ClientServerOptions,
  startClientServer,
} from "../../src/api/client-server.js";
import { defaultInputLimits } from "../../src/engine/limits.js";
import { NodeMetrics } from "../../src/observability/metrics.js";
import { BasicAuthenticator } from "../../src/security/authenticator.js";
import { MemoryEngine } from "./memory-engine.js";

/** A client port on loopback over a MemoryEngine, no users, always healthy; `extra` overrides any of it. */
export function testClientServer(extra: Partial<ClientServerOptions> = {}): Promise<ClientServer> {
  return startClientServer({
    host: "127.0.0.1",
    port: 0,
    engine: new MemoryEngine(),
    limits: defaultInputLimits,
    authenticator: new BasicAuthenticator([]),
    health: { live: () => true, ready: () => ({ ready: true, reason: "" }) },
    observer: new NodeMetrics({ node: "test-0" }),
    ...extra,
  });
}
