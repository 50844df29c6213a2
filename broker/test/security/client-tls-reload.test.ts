import assert from "node:assert/strict";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect } from "node:tls";
import type { ClientServer } from "../../src/api/client-server.js";
import { testClientServer } from "../support/test-client-server.js";
import { makePki, type Pki } from "./tls-fixtures.js";

// The client port serves a rotated certificate to new connections without a restart (cert-manager
// replacing the files), and a broken rotation keeps the previous certificate in service.

let pki: Pki;
let server: ClientServer;
const audit: string[] = [];
const serverExt = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";

/** The CN of the certificate a new TLS connection to the client port is served. */
function servedCommonName(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port: server.port, ca: pki.ca.cert, ALPNProtocols: ["h2"] },
      () => {
        const cn = socket.getPeerCertificate().subject?.CN;
        socket.destroy();
        resolve(String(cn));
      },
    );
    socket.on("error", reject);
  });
}

async function waitForCommonName(expected: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const cn = await servedCommonName();
    if (cn === expected) return;
    if (Date.now() > deadline) assert.fail(`still served ${cn}, expected ${expected}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  pki = makePki();
  const first = pki.issue("node-v1", "node-v1", serverExt);
  copyFileSync(first.certFile, join(pki.dir, "tls.crt"));
  copyFileSync(first.keyFile, join(pki.dir, "tls.key"));
  server = await testClientServer({
    tls: {
      cert: join(pki.dir, "tls.crt"),
      key: join(pki.dir, "tls.key"),
      ca: pki.ca.certFile,
      requireClientCert: false,
    },
    audit: (event, fields) => audit.push(`${event} ${JSON.stringify(fields)}`),
  });
});

after(async () => {
  await server?.close();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

test("a rotated certificate is served to new connections; a half-written rotation is not", async () => {
  assert.equal(await servedCommonName(), "node-v1");
  const second = pki.issue("node-v2", "node-v2", serverExt);
  copyFileSync(second.certFile, join(pki.dir, "tls.crt"));
  copyFileSync(second.keyFile, join(pki.dir, "tls.key"));
  await waitForCommonName("node-v2");
  assert.ok(audit.some((l) => l.startsWith("security.reload ")));

  // New certificate, old key: unusable, so v2 stays.
  const third = pki.issue("node-v3", "node-v3", serverExt);
  const seen = audit.length;
  copyFileSync(third.certFile, join(pki.dir, "tls.crt"));
  const deadline = Date.now() + 10_000;
  while (!audit.slice(seen).some((l) => l.startsWith("security.reload_failed "))) {
    if (Date.now() > deadline) assert.fail("the broken rotation was never reported");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await servedCommonName(), "node-v2");
  copyFileSync(third.keyFile, join(pki.dir, "tls.key"));
  await waitForCommonName("node-v3");
});
