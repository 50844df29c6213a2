import type { Span } from "@opentelemetry/api";
import type { ReceivedMessage } from "./messages.js";

/**
 * The parts of `@opentelemetry/api` the client uses. The application passes the module itself
 * (`telemetry: await import("@opentelemetry/api")`): it is an optional peer dependency, so the client
 * never imports it, and its spans go wherever the application's tracer provider sends them.
 */
export type OpenTelemetryApi = Pick<
  typeof import("@opentelemetry/api"),
  "trace" | "context" | "propagation" | "ROOT_CONTEXT" | "SpanKind" | "SpanStatusCode"
>;

const setter = {
  set: (carrier: Record<string, string>, key: string, value: string) => (carrier[key] = value),
};
const getter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};

/** Publish and receive spans (OpenTelemetry messaging conventions), trace context in message headers. */
export class Telemetry {
  constructor(private readonly api: OpenTelemetryApi) {}

  private get tracer() {
    return this.api.trace.getTracer("geobroker-client");
  }

  /**
   * A PRODUCER span for one publish, its context written into `headers` (W3C `traceparent` with the
   * usual propagator) so the consumer's span continues the trace. End it with the outcome.
   */
  publish(
    topic: string,
    headers: Record<string, string>,
  ): { end(result?: PublishOutcomeFields, error?: Error): void } {
    const span = this.tracer.startSpan(`publish ${topic}`, {
      kind: this.api.SpanKind.PRODUCER,
      attributes: {
        "messaging.system": "geobroker",
        "messaging.destination.name": topic,
        "messaging.operation.type": "send",
      },
    });
    this.api.propagation.inject(this.api.trace.setSpan(this.api.context.active(), span), headers, setter);
    return { end: (result, error) => this.finish(span, result, error) };
  }

  private finish(span: Span, result: PublishOutcomeFields | undefined, error: Error | undefined): void {
    if (result) {
      span.setAttributes({
        "messaging.message.id": result.id,
        "messaging.destination.partition.id": String(result.partition),
        "messaging.geobroker.offset": Number(result.offset),
      });
    }
    if (error) {
      span.recordException(error);
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error.message });
    }
    span.end();
  }

  /** A CONSUMER span for a message handed to the application, a child of its publisher's span. */
  received(m: ReceivedMessage, operation: "receive" | "process"): void {
    const parent = this.api.propagation.extract(this.api.ROOT_CONTEXT, m.headers, getter);
    const span = this.tracer.startSpan(
      `${operation} ${m.topic}`,
      {
        kind: this.api.SpanKind.CONSUMER,
        attributes: {
          "messaging.system": "geobroker",
          "messaging.destination.name": m.topic,
          "messaging.operation.type": operation,
          "messaging.message.id": m.id,
          "messaging.destination.partition.id": String(m.partition),
        },
      },
      parent,
    );
    span.end();
  }
}

export interface PublishOutcomeFields {
  id: string;
  partition: number;
  offset: bigint;
}
