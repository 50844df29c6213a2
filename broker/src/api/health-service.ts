import type { ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import type { HealthSource } from "../observability/http-server.js";

const pollMs = 1000;

/** grpc.health.v1 on the client port: SERVING exactly when /readyz says ready. */
export function healthService(health: HealthSource): ServiceImpl<typeof Health> {
  const status = () =>
    health.ready().ready
      ? HealthCheckResponse_ServingStatus.SERVING
      : HealthCheckResponse_ServingStatus.NOT_SERVING;
  return {
    async check() {
      return { status: status() };
    },
    async *watch(_req, ctx) {
      let last: HealthCheckResponse_ServingStatus | undefined;
      while (!ctx.signal.aborted) {
        const now = status();
        if (now !== last) yield { status: now };
        last = now;
        await new Promise((r) => setTimeout(r, pollMs).unref());
      }
    },
  };
}
