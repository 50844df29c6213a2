import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ScalarType } from "@bufbuild/protobuf";
import protoLoader from "@grpc/proto-loader";
import { projectRoot } from "../../broker/src/util/project-root.js";
import { file_broker_broker } from "../../gen/broker/broker_pb.js";

// The original system's contract (proto/broker/broker.proto). Every number here is frozen.
const expectedMessages: Record<string, Array<[name: string, number: number, kind: string]>> = {
  PublishRequest: [
    ["topic", 1, "string"],
    ["body", 2, "bytes"],
  ],
  PublishResponse: [["id", 1, "string"]],
  SubscribeRequest: [["topics", 1, "map<string,int64>"]],
  MessageResponse: [
    ["id", 1, "string"],
    ["timestamp", 2, "int64"],
    ["topic", 3, "string"],
    ["body", 4, "bytes"],
  ],
};

function kindOf(field: (typeof file_broker_broker.messages)[number]["fields"][number]): string {
  if (field.fieldKind === "map") {
    return `map<${ScalarType[field.mapKey].toLowerCase()},${field.mapKind === "scalar" ? ScalarType[field.scalar].toLowerCase() : "message"}>`;
  }
  if (field.fieldKind === "scalar") return ScalarType[field.scalar].toLowerCase();
  return field.fieldKind;
}

test("generated descriptor of broker.proto keeps the compatible package, service and methods", () => {
  assert.equal(file_broker_broker.proto.package, "broker");
  assert.equal(file_broker_broker.services.length, 1);
  const service = file_broker_broker.services[0]!;
  assert.equal(service.typeName, "broker.Broker");
  const methods = service.methods.map((m) => [m.name, m.methodKind, m.input.typeName, m.output.typeName]);
  assert.deepEqual(methods, [
    ["Publish", "unary", "broker.PublishRequest", "broker.PublishResponse"],
    ["Subscribe", "server_streaming", "broker.SubscribeRequest", "broker.MessageResponse"],
  ]);
});

test("generated descriptor of broker.proto keeps every message field name, number and type", () => {
  const actual = Object.fromEntries(
    file_broker_broker.messages.map((m) => [m.name, m.fields.map((f) => [f.name, f.number, kindOf(f)])]),
  );
  assert.deepEqual(actual, expectedMessages);
});

test("proto/broker/broker.proto loads with @grpc/proto-loader as an old client would", async () => {
  const definition = await protoLoader.load(join(projectRoot(), "proto", "broker", "broker.proto"), {
    keepCase: true,
  });
  const service = definition["broker.Broker"] as protoLoader.ServiceDefinition;
  assert.deepEqual(Object.keys(service).sort(), ["Publish", "Subscribe"]);
  assert.equal(service.Publish!.path, "/broker.Broker/Publish");
  assert.equal(service.Subscribe!.path, "/broker.Broker/Subscribe");
  assert.equal(service.Subscribe!.responseStream, true);
  assert.equal(service.Subscribe!.requestStream, false);
  assert.equal(service.Publish!.responseStream, false);
});
