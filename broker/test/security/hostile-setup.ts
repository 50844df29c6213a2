import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Code, ConnectError } from "@connectrpc/connect";
import { stringify } from "yaml";
import { type LiveNode, startLiveNode } from "./live-node.js";
import type { Pki } from "./tls-fixtures.js";

// Set-up the live-node security tests share: a folder with an ACL file, a node certificate.

/** A fresh folder holding `acl.yaml` with this ACL. */
export function folderWithAcl(prefix: string, acl: unknown): { dir: string; aclFile: string } {
  const dir = mkdtempSync(join(tmpdir(), `geobroker-${prefix}-`));
  const aclFile = join(dir, "acl.yaml");
  writeFileSync(aclFile, stringify(acl));
  return { dir, aclFile };
}

/** The certificate of node eu-0 on 127.0.0.1 from the PKI's CA, as `{cert, key, ca}` config paths. */
export function nodeTlsFiles(pki: Pki, extraSans = ""): { cert: string; key: string; ca: string } {
  const cert = pki.issue(
    "eu-0",
    "eu-0",
    `subjectAltName=IP:127.0.0.1${extraSans}\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  return { cert: cert.certFile, key: cert.keyFile, ca: pki.ca.certFile };
}

/** An ACL with a `writer` who may publish on `topics` and an `ops` admin. */
export const writerAndOps = (topics: string[]) => ({
  roles: [{ name: "w", rules: [{ actions: ["publish"], topics }] }],
  users: [
    { name: "writer", roles: ["w"] },
    { name: "ops", roles: ["admin"] },
  ],
});

/** A live node in production mode: TLS on both ports with the node certificate, `auth` as given. */
export function startProductionNode(
  pki: Pki,
  users: Record<string, string>,
  auth: Record<string, unknown>,
  files = nodeTlsFiles(pki),
): Promise<LiveNode> {
  return startLiveNode({
    dir: pki.dir,
    users,
    config: { production: true, tls: { client: { ...files, requireClientCert: false }, peer: files }, auth },
  });
}

/** The code a call ended with, or "ok": for asserting exact codes. */
export async function codeOf(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
