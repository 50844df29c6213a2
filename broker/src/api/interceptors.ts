import { ConnectError, type Interceptor } from "@connectrpc/connect";
import type { CallObserver } from "../observability/call-observer.js";

export type { CallObserver } from "../observability/call-observer.js";

/** Counts and times every call for /metrics. Streams are timed to their first response message. */
export function metricsInterceptor(observer: CallObserver): Interceptor {
  return (next) => async (req) => {
    const started = process.hrtime.bigint();
    const done = (code: string) =>
      observer.observe(
        req.service.typeName,
        req.method.name,
        code,
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    try {
      const res = await next(req);
      done("ok");
      return res;
    } catch (err) {
      done(err instanceof ConnectError ? codeName(err) : "internal");
      throw err;
    }
  };
}

function codeName(err: ConnectError): string {
  return String(err.code);
}
