import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RegionClient } from "../src/broker-client.js";
import type { KubeObject } from "../src/kube-rest.js";
import { expand, fieldValue } from "../src/kubelet/env.js";
import { parseDockerfile, resolveImage } from "../src/kubelet/image.js";
import { launchScript } from "../src/kubelet/launcher.js";
import { ProbeTracker, probeSettings, resolvePort } from "../src/kubelet/probes.js";
import { AddressPool } from "../src/kubelet/sandbox.js";
import { checkDelivered, MessageNumbers, startLoad } from "../src/load.js";
import { repoRoot } from "../src/paths.js";

// The process kubelet's pure parts, where they are cheapest to test: the e2e scenarios
// (npm run e2e) exercise them against the real control plane.

const pod: KubeObject = {
  metadata: {
    name: "demo-eu-0",
    namespace: "msg",
    uid: "u-1",
    annotations: { "geobroker.io/zone": "eu-a" },
    labels: { app: "x" },
  },
  spec: { nodeName: "eu-a" },
  status: { podIP: "10.77.1.2" },
};

describe("process kubelet", () => {
  it("reads the image's process from the repository's Dockerfile, with /app as the repo root", () => {
    const image = resolveImage("ghcr.io/geobroker/geobroker:0.1.0");
    assert.deepEqual(image.entrypoint, ["node", `${repoRoot}dist/broker/src/cli/main.js`]);
    assert.deepEqual(image.cmd, ["serve", "--config", "/etc/geobroker/config/broker.yaml"]);
    assert.deepEqual(image.user, { uid: 10001, gid: 10001 });
    assert.equal(image.env.NODE_ENV, "production");
    const operator = resolveImage("ghcr.io/geobroker/geobroker-operator:0.1.0");
    assert.deepEqual(operator.entrypoint, ["node", `${repoRoot}dist/operator/src/main.js`]);
    assert.throws(() => resolveImage("nginx:1.27"), /not built by this repository/);
  });

  it("takes only the final stage of a multi-stage Dockerfile", () => {
    const image = parseDockerfile(
      'FROM a AS build\nENV X=1\nCMD ["build"]\nFROM b\nWORKDIR /app\nENV Y=two=2\nENTRYPOINT ["node", \\\n "/app/x.js"]\n',
      "Dockerfile",
      "r",
    );
    assert.deepEqual(image.env, { Y: "two=2" });
    assert.deepEqual(image.cmd, []);
    assert.deepEqual(image.entrypoint, ["node", `${repoRoot}x.js`]);
    assert.throws(() => parseDockerfile("FROM b\nCMD node x.js\n", "D", "r"), /JSON \(exec\) form/);
  });

  it("resolves the downward API and $(VAR) references as the kubelet does", () => {
    assert.equal(fieldValue(pod, "metadata.name"), "demo-eu-0");
    assert.equal(fieldValue(pod, "metadata.annotations['geobroker.io/zone']"), "eu-a");
    assert.equal(fieldValue(pod, "metadata.annotations['missing']"), "");
    assert.equal(fieldValue(pod, "metadata.labels['app']"), "x");
    assert.equal(fieldValue(pod, "status.podIP"), "10.77.1.2");
    assert.throws(() => fieldValue(pod, "spec.bogus"), /not supported/);
    assert.equal(expand("$(POD_NAME).peers.$(NS).svc", { POD_NAME: "p", NS: "msg" }), "p.peers.msg.svc");
    assert.equal(expand("$(UNDEFINED) $$(POD_NAME)", { POD_NAME: "p" }), "$(UNDEFINED) $(POD_NAME)");
  });

  it("flips a probe's verdict only after its thresholds", () => {
    const tracker = new ProbeTracker(probeSettings({ failureThreshold: 3, successThreshold: 2 }));
    tracker.record(true);
    assert.equal(tracker.verdict, "unknown");
    tracker.record(true);
    assert.equal(tracker.verdict, "success");
    tracker.record(false);
    tracker.record(false);
    assert.equal(tracker.verdict, "success", "two failures are below the threshold");
    tracker.record(false);
    assert.equal(tracker.verdict, "failure");
    assert.equal(resolvePort("http", [{ name: "http", containerPort: 9200 }]), 9200);
    assert.equal(resolvePort(8080, []), 8080);
    assert.throws(() => resolvePort("nope", []), /not a container port/);
  });

  it("binds parents before children, quotes every path and drops to the container's user", () => {
    const script = launchScript({
      mounts: [
        { hostPath: "/v/tls peer", mountPath: "/etc/geobroker/tls/peer", readOnly: true },
        { hostPath: "/v/data", mountPath: "/var/lib/geobroker", readOnly: false },
        { hostPath: "/v/tmp", mountPath: "/tmp", readOnly: false },
      ],
      resolvConf: "/p/resolv.conf",
      hostsFile: "/p/hosts",
      hostname: "demo-eu-0",
      workingDir: "/app",
      user: { uid: 10001, gid: 10001, groups: [10001] },
      argv: ["node", "it's.js"],
      env: {},
    });
    const lines = script.trim().split("\n");
    assert.ok(
      lines.indexOf("mount --bind '/v/tmp' '/tmp'") <
        lines.indexOf("mount --bind '/v/tls peer' '/etc/geobroker/tls/peer'"),
    );
    assert.ok(lines.includes("mount -o remount,bind,ro '/etc/geobroker/tls/peer'"));
    assert.ok(!lines.includes("mount -o remount,bind,ro '/var/lib/geobroker'"));
    assert.equal(
      lines.at(-1),
      `exec setpriv --reuid=10001 --regid=10001 --groups=10001 -- 'node' 'it'\\''s.js'`,
    );
  });

  it("hands out distinct pod addresses and reuses freed ones", () => {
    const pool = new AddressPool();
    const a = pool.take();
    const b = pool.take();
    assert.notEqual(a, b);
    assert.match(a, /^10\.77\.\d+\.\d+$/);
    pool.give(a);
    assert.equal(pool.take(), a);
  });

  it("finds lost, reordered and duplicated messages", () => {
    assert.deepEqual(checkDelivered([1, 2, 3], [1, 2, 3]), { missing: [], outOfOrder: 0, duplicates: 0 });
    assert.deepEqual(checkDelivered([1, 3, 2, 3], [1, 2, 3, 4]), {
      missing: [4],
      outOfOrder: 1,
      duplicates: 1,
    });
    // 5 timed out (not acknowledged) and was committed after 6: the order of acknowledged
    // messages is what the broker promises; an unacknowledged one may land anywhere.
    assert.deepEqual(checkDelivered([4, 6, 5, 7], [4, 6, 7]), { missing: [], outOfOrder: 0, duplicates: 0 });
    assert.equal(checkDelivered([4, 7, 6], [4, 6, 7]).outOfOrder, 1);
  });

  it("two loads in a row never reuse a number a failed publish took (it read as out of order)", async () => {
    // The broker stores what it acknowledges; the first load's third publish fails without being
    // stored. Numbering the second load from the count of acked messages reused that number, and its
    // ack then came after higher numbers were stored: the e2e lost-region scenario's "out of order".
    const log: number[] = [];
    let calls = 0;
    const fake = async (): Promise<RegionClient> => ({
      address: "fake",
      close() {},
      broker: {
        async publish(req: { body: Uint8Array }) {
          calls++;
          if (calls === 3) throw new Error("unavailable: leader lost");
          log.push(Number(Buffer.from(req.body).toString()));
          await new Promise((r) => setTimeout(r, 1));
          return { id: `t/0/${log.length - 1}` };
        },
      } as unknown as RegionClient["broker"],
    });
    const numbers = new MessageNumbers();
    const acked: number[] = [];
    for (let load = 0; load < 2; load++) {
      const l = startLoad("t", numbers, fake);
      while (l.progress().acked.length + l.progress().errors < 6) await new Promise((r) => setTimeout(r, 5));
      acked.push(...(await l.stop()).acked);
    }
    assert.equal(new Set(log).size, log.length, "no number was published twice");
    assert.deepEqual(checkDelivered(log, acked), { missing: [], outOfOrder: 0, duplicates: 0 });
  });
});
