import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import * as otel from "@opentelemetry/api";
import { type ConsumeService, SubscribeResponseSchema } from "../../../gen/geobroker/v1/consume_pb.js";
import {
  type PublishRequest,
  type PublishService,
  PublishStreamResponseSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import { fakeClient, fakeNode } from "./fake-nodes.js";

interface Recorded {
  name: string;
  kind: otel.SpanKind | undefined;
  context: otel.SpanContext;
  parentSpanId: string | undefined;
  attributes: otel.Attributes;
  ended: boolean;
}

/** A tracer provider and a traceparent propagator that record, installed as the API's globals. */
function recordingTracing(): Recorded[] {
  const spans: Recorded[] = [];
  let ids = 0;
  const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
  const tracer = {
    startSpan(name: string, options: otel.SpanOptions = {}, ctx?: otel.Context): otel.Span {
      const parent = ctx ? otel.trace.getSpanContext(ctx) : undefined;
      const context: otel.SpanContext = {
        traceId: parent?.traceId ?? hex(++ids, 32),
        spanId: hex(++ids, 16),
        traceFlags: 1,
      };
      const r: Recorded = {
        name,
        kind: options.kind,
        context,
        parentSpanId: parent?.spanId,
        attributes: { ...options.attributes },
        ended: false,
      };
      spans.push(r);
      const span = {
        spanContext: () => context,
        setAttribute: (k: string, v: otel.AttributeValue) => {
          r.attributes[k] = v;
          return span;
        },
        setAttributes: (a: otel.Attributes) => {
          Object.assign(r.attributes, a);
          return span;
        },
        addEvent: () => span,
        addLink: () => span,
        addLinks: () => span,
        setStatus: () => span,
        updateName: () => span,
        end: () => {
          r.ended = true;
        },
        isRecording: () => true,
        recordException: () => {},
      };
      return span;
    },
    startActiveSpan: () => assert.fail("not used"),
  } as unknown as otel.Tracer;
  otel.trace.disable();
  otel.trace.setGlobalTracerProvider({ getTracer: () => tracer });
  otel.propagation.disable();
  otel.propagation.setGlobalPropagator({
    inject(ctx, carrier, setter) {
      const s = otel.trace.getSpanContext(ctx);
      if (s) setter.set(carrier, "traceparent", `00-${s.traceId}-${s.spanId}-01`);
    },
    extract(ctx, carrier, getter) {
      const v = getter.get(carrier, "traceparent");
      const m = typeof v === "string" ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(v) : null;
      if (!m) return ctx;
      return otel.trace.setSpanContext(ctx, { traceId: m[1]!, spanId: m[2]!, traceFlags: 1, isRemote: true });
    },
    fields: () => ["traceparent"],
  });
  return spans;
}

test("with telemetry: a PRODUCER span per publish, its context in the headers, and the receiver's span its child", async () => {
  const spans = recordingTracing();
  const log: PublishRequest[] = [];
  const publish: Partial<ServiceImpl<typeof PublishService>> = {
    async *publishStream(requests) {
      for await (const item of requests) {
        log.push(item.request!);
        const offset = BigInt(log.length - 1);
        yield create(PublishStreamResponseSchema, {
          sequence: item.sequence,
          result: { case: "ack", value: { topic: "t", partition: 0, offset, id: `t/0/${offset}` } },
        });
      }
    },
  };
  const consume: Partial<ServiceImpl<typeof ConsumeService>> = {
    async *subscribe() {
      for (const [i, r] of log.entries())
        yield create(SubscribeResponseSchema, {
          message: { topic: "t", partition: 0, offset: BigInt(i), id: `t/0/${i}`, headers: r.headers },
        });
    },
  };
  const client = fakeClient([fakeNode("a", "eu", { publish, consume })], { t: ["a"] }, { telemetry: otel });
  const ack = await client.publish({ topic: "t", body: "x", headers: { app: "1" } });
  const producer = spans.find((s) => s.name === "publish t");
  assert.ok(producer, `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(producer.kind, otel.SpanKind.PRODUCER);
  assert.equal(producer.ended, true);
  assert.equal(producer.attributes["messaging.message.id"], ack.id);
  assert.equal(log[0]?.headers.app, "1", "the application's headers are kept");
  assert.equal(log[0]?.headers.traceparent, `00-${producer.context.traceId}-${producer.context.spanId}-01`);

  for await (const _ of client.subscribe({ topic: "t", partitions: [0], start: "earliest" })) break;
  const receiver = spans.find((s) => s.name === "receive t");
  assert.ok(receiver);
  assert.equal(receiver.kind, otel.SpanKind.CONSUMER);
  assert.equal(receiver.context.traceId, producer.context.traceId, "one trace from publisher to receiver");
  assert.equal(receiver.parentSpanId, producer.context.spanId);
  await client.close();
  otel.trace.disable();
  otel.propagation.disable();
});

test("without telemetry no header is added", async () => {
  const log: PublishRequest[] = [];
  const publish: Partial<ServiceImpl<typeof PublishService>> = {
    async *publishStream(requests) {
      for await (const item of requests) {
        log.push(item.request!);
        yield create(PublishStreamResponseSchema, {
          sequence: item.sequence,
          result: { case: "ack", value: { topic: "t", partition: 0, offset: 0n, id: "t/0/0" } },
        });
      }
    },
  };
  const client = fakeClient([fakeNode("a", "eu", { publish })], { t: ["a"] });
  await client.publish({ topic: "t", body: "x" });
  assert.deepEqual(log[0]?.headers, {});
  await client.close();
});
