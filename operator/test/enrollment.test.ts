import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { Server } from "node:https";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { silentLogger as silentBrokerLogger } from "../../broker/src/observability/logger.js";
import { enrollOnce, renewAt, startPeerEnrollment } from "../../broker/src/security/peer-enrollment.js";
import { silentLogger } from "../src/controller/logger.js";
import {
  defaultEnrollmentLimits,
  type EnrollmentDeps,
  enrollmentPath,
  startEnrollmentServer,
} from "../src/pki/enrollment-server.js";
import { PkiStore } from "../src/pki/pki-store.js";
import { FakeKube } from "./fake-kube.js";
import { brokerPodFacts, review, uidCluster } from "./peer-fixtures.js";

// The enrollment endpoint over real HTTPS, driven by the broker's own client
// (broker/src/security/peer-enrollment.ts): a broker gets CN=<its pod> under its cluster's peer CA;
// refusals are Connect codes; the body, the rate and the CSR are bounded (decision 0065).

const tokens: Record<string, ReturnType<typeof review>> = {
  "token-eu-0": review("demo-eu-0", "uid-eu-0"),
  "token-other-audience": review("demo-eu-0", "uid-eu-0", { audiences: ["kubernetes"] }),
};

describe("enrollment endpoint", () => {
  let server: Server;
  let url: string;
  let enrollmentCa: string;
  let peerCa: string;
  const dir = mkdtempSync(join(tmpdir(), "gb-enroll-"));
  const kube = new FakeKube();
  const pki = new PkiStore(kube, {
    namespace: "geobroker-system",
    secretName: "pki",
    enrollmentService: "localhost",
  });

  before(async () => {
    const deps: EnrollmentDeps = {
      log: silentLogger,
      reviewToken: async (t) => tokens[t] ?? { authenticated: false, error: "invalid bearer token" },
      pod: async (_ns, name) => (name === "demo-eu-0" ? brokerPodFacts("demo-eu-0") : undefined),
      cluster: async () => uidCluster(),
      peerCa: (c) => pki.peerCa(c),
    };
    const tls = await pki.enrollmentTls();
    enrollmentCa = tls.ca;
    server = await startEnrollmentServer({ port: 0, host: "127.0.0.1", tls }, deps, {
      ...defaultEnrollmentLimits,
      perAddressBurst: 14,
      perAddressPerSecond: 0.001,
    });
    const port = (server.address() as { port: number }).port;
    url = `https://localhost:${port}${enrollmentPath}`;
    writeFileSync(join(dir, "enroll-ca.crt"), enrollmentCa);
    peerCa = (await pki.peerCa({ namespace: "msg", name: "demo", uid: "cluster-uid-1" })).cert;
  });
  after(() => server?.close());

  const target = (nodeId: string, token: string) => {
    writeFileSync(join(dir, `${nodeId}.token`), `${token}\n`);
    return {
      nodeId,
      enroll: { url, tokenFile: join(dir, `${nodeId}.token`), ca: join(dir, "enroll-ca.crt") },
      keyFile: join(dir, `${nodeId}.key`),
      certFile: join(dir, `${nodeId}.crt`),
    };
  };

  const raw = (body: string | Buffer, headers: Record<string, string>) =>
    new Promise<{ status: number; body: { code?: string; message?: string } }>((resolve, reject) => {
      const req = request(url, { method: "POST", ca: enrollmentCa, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      });
      req.on("error", reject);
      req.end(body);
    });

  it("a broker gets its own name under its cluster's peer CA, and writes key and certificate", async () => {
    const v = await enrollOnce(target("demo-eu-0", "token-eu-0"));
    const cert = new X509Certificate(readFileSync(join(dir, "demo-eu-0.crt")));
    assert.equal(cert.subject, "CN=demo-eu-0");
    assert.ok(cert.verify(new X509Certificate(peerCa).publicKey), "signed by the cluster's peer CA");
    assert.match(cert.subjectAltName ?? "", /DNS:demo-eu-0\.demo-eu-peers\.msg\.svc/);
    assert.ok(
      cert.checkPrivateKey(
        (await import("node:crypto")).createPrivateKey(readFileSync(join(dir, "demo-eu-0.key"))),
      ),
    );
    const days = (v.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days <= 7, `7 days (${days})`);
  });

  it("refuses another pod's name, a foreign audience and an unknown token with their codes", async () => {
    await assert.rejects(
      enrollOnce(target("demo-us-0", "token-eu-0")),
      /permission_denied: pod msg\/demo-eu-0 may only ask for CN=demo-eu-0, not CN=demo-us-0/,
    );
    await assert.rejects(
      enrollOnce(target("demo-eu-0", "token-other-audience")),
      /unauthenticated: the token is not for audience geobroker-operator/,
    );
    await assert.rejects(
      enrollOnce(target("demo-eu-0", "forged")),
      /unauthenticated: the service-account token was not accepted/,
    );
  });

  it("a starting broker retries until the operator signs, then renews at two thirds of the lifetime", async () => {
    // The token is refused at first (a pod whose token the kubelet has not written yet, say).
    const t = target("demo-eu-0", "not-yet");
    setTimeout(() => writeFileSync(t.enroll.tokenFile, "token-eu-0"), 300);
    const started = Date.now();
    const enrollment = await startPeerEnrollment(t, silentBrokerLogger());
    enrollment.stop();
    assert.ok(Date.now() - started >= 900, "it waited for the retry (1 s)");
    assert.equal(new X509Certificate(readFileSync(t.certFile)).subject, "CN=demo-eu-0");
    const notBefore = new Date("2026-01-01T00:00:00Z");
    const notAfter = new Date("2026-01-07T12:00:00Z");
    assert.equal(new Date(renewAt({ notBefore, notAfter })).toISOString(), "2026-01-05T08:00:00.000Z");
  });

  it("bounds the body and the CSR, and needs a bearer token", async () => {
    const big = await raw(Buffer.alloc(defaultEnrollmentLimits.maxBodyBytes + 1, 0x20), {
      authorization: "Bearer token-eu-0",
      "content-type": "application/json",
    });
    assert.deepEqual([big.status, big.body.code], [429, "resource_exhausted"], big.body.message);
    const csr = await raw(JSON.stringify({ csr: "x".repeat(5000) }), { authorization: "Bearer token-eu-0" });
    assert.deepEqual([csr.status, csr.body.code], [400, "invalid_argument"], csr.body.message);
    assert.match(csr.body.message ?? "", /at most 4096 characters/);
    const notCsr = await raw(
      JSON.stringify({ csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----" }),
      { authorization: "Bearer token-eu-0" },
    );
    assert.deepEqual([notCsr.status, notCsr.body.code], [400, "invalid_argument"], notCsr.body.message);
    const none = await raw("{}", {});
    assert.deepEqual([none.status, none.body.code], [401, "unauthenticated"], none.body.message);
  });

  it("limits requests per client address", async () => {
    // The bucket holds 14 and refills at one per 1,000 s: what the tests above took plus these.
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) answers.push((await raw("{}", {})).status);
    assert.ok(answers.includes(401), `some still checked: ${answers}`);
    const last = await raw("{}", {});
    assert.deepEqual([last.status, last.body.code], [429, "resource_exhausted"]);
    assert.match(last.body.message ?? "", /too many requests from 127\.0\.0\.1/);
  });
});
