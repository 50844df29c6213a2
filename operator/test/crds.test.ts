import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { messages } from "../src/api/validate.js";
import { CrdValidator, loadCrd } from "./crd-schema.js";

const root = new URL("../../../", import.meta.url).pathname;
const cluster = new CrdValidator(loadCrd("geobroker.io_geobrokerclusters.yaml").schema);
const topic = new CrdValidator(loadCrd("geobroker.io_geobrokertopics.yaml").schema);
const user = new CrdValidator(loadCrd("geobroker.io_geobrokerusers.yaml").schema);

function gbc(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "geobroker.io/v1alpha1", kind: "GeoBrokerCluster", metadata: { name: "demo" }, spec };
}

const regions = [
  { name: "eu", replicas: 3 },
  { name: "us", replicas: 3 },
  { name: "ap", replicas: 3 },
];

function messagesOf(problems: { message: string }[]): string[] {
  return problems.map((p) => p.message);
}

describe("GeoBrokerCluster CRD", () => {
  it("accepts every example under examples/ and the CRD's own kinds", () => {
    const docs = parseAllDocuments(readFileSync(`${root}examples/geobrokercluster.yaml`, "utf8")).map((d) =>
      d.toJS(),
    );
    assert.equal(docs.length, 3);
    const byKind: Record<string, CrdValidator> = {
      GeoBrokerCluster: cluster,
      GeoBrokerTopic: topic,
      GeoBrokerUser: user,
    };
    for (const doc of docs) assert.deepEqual(byKind[doc.kind]!.validate(doc), [], doc.kind);
  });

  it("fills the defaults", () => {
    const o = gbc({ image: "geobroker:1", regions: [{ name: "eu" }, { name: "us" }, { name: "ap" }] });
    assert.deepEqual(cluster.validate(o), []);
    const spec = o.spec as Record<string, Record<string, unknown>>;
    assert.equal((spec.regions as unknown as { replicas: number }[])[0]!.replicas, 3);
    assert.deepEqual(spec.storage, { size: "10Gi", reclaimPolicy: "Retain" });
    assert.deepEqual(spec.replication, { factor: 3 });
    assert.equal(spec.auth!.mode, "basic");
    assert.equal(spec.logLevel, "info");
  });

  it("rejects duplicate region names", () => {
    const problems = cluster.validate(
      gbc({ image: "i", regions: [...regions, { name: "eu", replicas: 1 }] }),
    );
    assert.ok(messagesOf(problems).includes(messages.uniqueRegions), JSON.stringify(problems));
  });

  it("rejects fewer than three regions unless allowFewerThanThreeRegions is set", () => {
    const two = regions.slice(0, 2);
    assert.deepEqual(messagesOf(cluster.validate(gbc({ image: "i", regions: two }))), [
      messages.threeRegions,
    ]);
    assert.deepEqual(
      cluster.validate(gbc({ image: "i", regions: two, allowFewerThanThreeRegions: true })),
      [],
    );
  });

  it("rejects zero replicas by schema, and by the CEL rule when the schema minimum is missing", () => {
    const zero = gbc({ image: "i", regions: [{ name: "eu", replicas: 0 }, ...regions.slice(1)] });
    assert.match(JSON.stringify(cluster.validate(zero)), /must be >= 1/);
    const { schema } = loadCrd("geobroker.io_geobrokerclusters.yaml");
    const replicas = (
      schema.properties!.spec!.properties!.regions!.items as {
        properties: Record<string, Record<string, unknown>>;
      }
    ).properties.replicas!;
    delete replicas.minimum;
    const celOnly = new CrdValidator(schema);
    assert.deepEqual(messagesOf(celOnly.validate(zero)), [messages.replicasAtLeastOne]);
  });

  it("rejects bad field values: region names, enums, missing image, unknown service type", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ image: "i", regions: [{ name: "EU", replicas: 1 }, ...regions.slice(1)] }, /must match pattern/],
      [{ image: "i", regions: [{ name: "eu-", replicas: 1 }, ...regions.slice(1)] }, /must match pattern/],
      [{ regions }, /must have required property 'image'/],
      [{ image: "", regions }, /must NOT have fewer than 1 characters/],
      [
        { image: "i", regions, storage: { reclaimPolicy: "Recycle" } },
        /must be equal to one of the allowed values/,
      ],
      [{ image: "i", regions, replication: { factor: 9 } }, /must be <= 7/],
      [{ image: "i", regions, storage: { size: "lots" } }, /must match pattern/],
      [
        {
          image: "i",
          regions: [{ name: "eu", replicas: 1, service: { type: "Ingress" } }, ...regions.slice(1)],
        },
        /allowed values/,
      ],
      [{ image: "i", regions: [] }, /must NOT have fewer than 1 items/],
    ];
    for (const [spec, expected] of cases) {
      assert.match(JSON.stringify(cluster.validate(gbc(spec))), expected, JSON.stringify(spec));
    }
  });

  it("guards the storage class on update, lets the size grow, and allows other changes", () => {
    const old = gbc({ image: "i", regions, storage: { size: "10Gi", storageClassName: "fast" } });
    cluster.validate(old);
    // The size may change (volumes grow in place); the operator refuses a smaller one itself.
    const resized = gbc({ image: "i", regions, storage: { size: "20Gi", storageClassName: "fast" } });
    assert.deepEqual(cluster.validate(resized, old), []);
    const reclassed = gbc({ image: "i", regions, storage: { size: "10Gi", storageClassName: "slow" } });
    assert.deepEqual(messagesOf(cluster.validate(reclassed, old)), [messages.storageClassImmutable]);
    const scaled = gbc({
      image: "j",
      regions: [...regions, { name: "sa", replicas: 1 }],
      storage: { size: "10Gi", storageClassName: "fast" },
    });
    assert.deepEqual(cluster.validate(scaled, old), []);
  });

  it("has the printer columns and status subresource kubectl needs", () => {
    const crd = parseAllDocuments(
      readFileSync(`${root}crds/geobroker.io_geobrokerclusters.yaml`, "utf8"),
    )[0]!.toJS();
    const v = crd.spec.versions[0];
    assert.deepEqual(v.subresources, { status: {} });
    assert.deepEqual(
      v.additionalPrinterColumns.map((c: { name: string }) => c.name),
      ["Regions", "Ready", "Leader", "Status", "Age"],
    );
    assert.deepEqual(crd.spec.names.shortNames, ["gbc"]);
  });
});

describe("GeoBrokerTopic and GeoBrokerUser CRDs", () => {
  const t = (spec: Record<string, unknown>) => ({
    apiVersion: "geobroker.io/v1alpha1",
    kind: "GeoBrokerTopic",
    metadata: { name: "t" },
    spec,
  });
  const u = (spec: Record<string, unknown>) => ({
    apiVersion: "geobroker.io/v1alpha1",
    kind: "GeoBrokerUser",
    metadata: { name: "u" },
    spec,
  });

  it("rejects topics without a cluster, with bad names or partition counts", () => {
    assert.match(JSON.stringify(topic.validate(t({}))), /clusterRef/);
    assert.match(
      JSON.stringify(topic.validate(t({ clusterRef: { name: "demo" }, topicName: ".internal" }))),
      /pattern/,
    );
    assert.match(
      JSON.stringify(topic.validate(t({ clusterRef: { name: "demo" }, partitions: 0 }))),
      /must be >= 1/,
    );
  });

  it("refuses changing partitions, replication or the topic name of an existing topic", () => {
    const old = t({ clusterRef: { name: "demo" }, topicName: "orders", partitions: 2, replicationFactor: 3 });
    topic.validate(old);
    assert.deepEqual(
      messagesOf(
        topic.validate(
          t({ clusterRef: { name: "demo" }, topicName: "orders", partitions: 4, replicationFactor: 3 }),
          old,
        ),
      ),
      ["spec.partitions cannot change after creation"],
    );
    assert.deepEqual(
      messagesOf(
        topic.validate(
          t({ clusterRef: { name: "demo" }, topicName: "payments", partitions: 2, replicationFactor: 3 }),
          old,
        ),
      ),
      ["spec.topicName cannot change; create a new GeoBrokerTopic instead"],
    );
    assert.deepEqual(
      topic.validate(
        t({
          clusterRef: { name: "demo" },
          topicName: "orders",
          partitions: 2,
          replicationFactor: 3,
          retention: { maxAgeMs: 5 },
        }),
        old,
      ),
      [],
    );
  });

  it("rejects users with unknown permissions or malformed topic patterns", () => {
    assert.deepEqual(
      user.validate(
        u({ clusterRef: { name: "demo" }, acls: [{ topicPattern: "orders.*", permissions: ["publish"] }] }),
      ),
      [],
    );
    assert.match(
      JSON.stringify(
        user.validate(
          u({ clusterRef: { name: "demo" }, acls: [{ topicPattern: "orders", permissions: ["delete"] }] }),
        ),
      ),
      /allowed values/,
    );
    assert.match(
      JSON.stringify(
        user.validate(
          u({ clusterRef: { name: "demo" }, acls: [{ topicPattern: "or*ders", permissions: ["publish"] }] }),
        ),
      ),
      /pattern/,
    );
    assert.match(
      JSON.stringify(
        user.validate(u({ clusterRef: { name: "demo" }, acls: [{ topicPattern: "x", permissions: [] }] })),
      ),
      /fewer than 1 items/,
    );
  });
});
